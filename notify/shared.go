package notify

import "sync/atomic"

// SharedShapes is how many encodings of one change Entry.Encoded keeps:
// one per shape its readers ask for (a stream's event as its owner reads
// it, and as anyone else does).
const SharedShapes = 2

// shared holds the encodings of one change that its readers made, so that
// the change is encoded once per shape, not once per reader. Measured at
// 10,000 streams of one user, each stream encoding the change itself was
// a memory copy and an encoding per stream for the same bytes
// (docs/performance.md).
type shared struct {
	enc [SharedShapes]atomic.Pointer[[]byte]
}

// Encoded returns the bytes a reader kept for this change in shape (an
// index below SharedShapes that the readers agree on), or nil if none did
// yet. The bytes are shared by every reader of the change: never modify
// them.
func (e Entry) Encoded(shape int) []byte {
	if e.shared == nil {
		return nil
	}
	if p := e.shared.enc[shape].Load(); p != nil {
		return *p
	}
	return nil
}

// KeepEncoded offers b, this change encoded in shape, to the other readers
// of the change, and returns the bytes to send: b, or what another reader
// kept first (the same bytes, as an encoding depends only on the change
// and its shape). b must not be modified afterwards. A change read from
// the log by one reader alone (a replay) keeps nothing.
func (e Entry) KeepEncoded(shape int, b []byte) []byte {
	if e.shared == nil {
		return b
	}
	if e.shared.enc[shape].CompareAndSwap(nil, &b) {
		return b
	}
	return *e.shared.enc[shape].Load()
}
