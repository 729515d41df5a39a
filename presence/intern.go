package presence

import "sync"

// shared holds every value the facts store as strings that come from a
// small fixed set. Decoding a user's facts allocates fresh copies of them;
// Intern swaps those for the shared ones, which matters with a million
// users in memory.
var shared = func() map[string]string {
	m := map[string]string{}
	for _, v := range []string{
		Available, AvailableIdle, Away, BeRightBack, Busy, BusyIdle, DoNotDisturb, Offline, PresenceUnknown,
		AvailableInactive, InACall, InAConferenceCall, Inactive, InAMeeting, OffWork, OutOfOffice, Presenting,
		UrgentInterruptionsOnly, Focusing, "text", RepliesDisabled, RepliesAlwaysEnabled, RepliesScheduled,
	} {
		m[v] = v
	}
	return m
}()

// sessionIDs interns session ids. Most sessions are named by their app's
// bare client id, shared by every user the app writes; the table is
// bounded, so labelled ids beyond it simply stay unshared.
var sessionIDs struct {
	sync.RWMutex
	m map[string]string
}

const maxInternedSessionIDs = 1 << 14

func internSessionID(s string) string {
	sessionIDs.RLock()
	v, ok := sessionIDs.m[s]
	sessionIDs.RUnlock()
	if ok {
		return v
	}
	sessionIDs.Lock()
	defer sessionIDs.Unlock()
	if v, ok := sessionIDs.m[s]; ok {
		return v
	}
	if sessionIDs.m == nil {
		sessionIDs.m = make(map[string]string)
	}
	if len(sessionIDs.m) < maxInternedSessionIDs {
		sessionIDs.m[s] = s
	}
	return s
}

func intern(s string) string {
	if v, ok := shared[s]; ok {
		return v
	}
	return s
}

// Intern replaces f's strings by shared copies where it can. It changes
// no value, only where the bytes live.
func Intern(f *Facts) {
	for i := range f.Sessions {
		s := &f.Sessions[i]
		s.ID = internSessionID(s.ID)
		s.Pair.Availability, s.Pair.Activity = intern(s.Pair.Availability), intern(s.Pair.Activity)
	}
	if p := f.Preferred; p != nil {
		p.Pair.Availability, p.Pair.Activity = intern(p.Pair.Availability), intern(p.Pair.Activity)
	}
	if st := f.Status; st != nil {
		st.ContentType = intern(st.ContentType)
	}
	if a := f.AutoReplies; a != nil {
		a.Status = intern(a.Status)
	}
	for i := range f.Events {
		f.Events[i].ShowAs = intern(f.Events[i].ShowAs)
	}
}
