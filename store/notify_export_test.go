package store

// PollOnce runs one tick of the SQLite poller PollOtherWriters installed (BenchmarkPollIdle).
func PollOnce(s *Store) {
	p, ok := s.notifier.(*pollNotifier)
	if !ok {
		panic("store: PollOnce without PollOtherWriters")
	}
	p.poll()
}
