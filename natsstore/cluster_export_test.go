package natsstore

// CrashJetStream stops the node's JetStream the way a crash looks to its
// peers: its Raft groups go silent without handing their leadership over,
// and the others elect new leaders after their election timeout. The
// engine must still be closed.
func (e *Engine) CrashJetStream() error { return e.srv.ShutdownJetStream() }
