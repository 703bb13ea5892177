package db

import "sync"

type lockSet struct {
	mu   sync.Mutex
	held map[int64]bool
}

func (l *lockSet) try(key int64) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] {
		return nil, false, nil
	}
	l.held[key] = true
	return func() {
		l.mu.Lock()
		delete(l.held, key)
		l.mu.Unlock()
	}, true, nil
}
