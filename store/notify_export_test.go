package store

// PollOnce runs one tick of the SQLite poller PollOtherWriters installed (BenchmarkPollIdle).
func PollOnce(s *Store) {
	p, ok := s.notifier.(*pollNotifier)
	if !ok {
		panic("store: PollOnce without PollOtherWriters")
	}
	p.poll()
}

// PollRunning reports whether the SQLite poller's goroutine is running.
func PollRunning(s *Store) bool {
	p, ok := s.notifier.(*pollNotifier)
	if !ok {
		panic("store: PollRunning without PollOtherWriters")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}
