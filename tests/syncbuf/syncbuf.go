// Package syncbuf owns the one test helper every kind of test here needs
// for output written by other goroutines or processes (node logs, a
// guest's stdout, a logger): a buffer safe to write and read at once. It
// imports only the standard library, so tests anywhere in the module can
// use it without import cycles.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that is safe for concurrent Write and String.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
