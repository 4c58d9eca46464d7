package actor

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"
)

// LogLine is one line of a module's log ring.
type LogLine struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
}

// ring keeps a module's recent log lines for `pkhost module logs`.
type ring struct {
	mu    sync.Mutex
	lines []LogLine
	next  int
	full  bool
}

func newRing(n int) *ring { return &ring{lines: make([]LogLine, n)} }

func (r *ring) add(level slog.Level, msg string) {
	r.mu.Lock()
	r.lines[r.next] = LogLine{time.Now(), level.String(), msg}
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

func (r *ring) snapshot() []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]LogLine(nil), r.lines[:r.next]...)
	}
	return append(append([]LogLine(nil), r.lines[r.next:]...), r.lines[:r.next]...)
}

// writer returns an io.Writer for a guest's stdout or stderr: complete lines
// go to the ring and the node log.
func (r *ring) writer(log *slog.Logger, level slog.Level, stream string) *lineWriter {
	return &lineWriter{r: r, log: log, level: level, stream: stream}
}

type lineWriter struct {
	r      *ring
	log    *slog.Logger
	level  slog.Level
	stream string
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.r.add(w.level, w.stream+": "+line)
		w.log.Log(context.Background(), w.level, line, "stream", w.stream)
	}
	if len(w.buf) > 4096 { // a line that never ends
		w.r.add(w.level, w.stream+": "+string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
