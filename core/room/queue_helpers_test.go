package room

// pending is the number of undelivered events (tests only).
func (q *eventQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// dataBacklog returns the pending data events and the data pushers waiting
// for space (tests only).
func (q *eventQueue) dataBacklog() (data, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.data, q.waiting
}
