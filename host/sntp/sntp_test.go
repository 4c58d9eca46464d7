package sntp

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// sntpServer answers on 127.0.0.1 with a clock skew ahead of ours; bad,
// if set, rewrites each reply first.
func sntpServer(t *testing.T, skew time.Duration, bad func([]byte)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go Serve(rewriter{pc, bad}, func() time.Time { return time.Now().Add(skew) })
	return pc.LocalAddr().String()
}

// rewriter passes what it sends through bad first.
type rewriter struct {
	net.PacketConn
	bad func([]byte)
}

func (r rewriter) WriteTo(b []byte, to net.Addr) (int, error) {
	if r.bad != nil {
		r.bad(b)
	}
	return r.PacketConn.WriteTo(b, to)
}

func TestOffset(t *testing.T) {
	for _, skew := range []time.Duration{0, 3 * time.Hour, -90 * time.Second, 56 * 365 * 24 * time.Hour} {
		addr := sntpServer(t, skew, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		off, err := Offset(ctx, addr)
		cancel()
		if err != nil {
			t.Fatalf("skew %v: %v", skew, err)
		}
		if d := off - skew; d < -time.Second || d > time.Second {
			t.Errorf("skew %v: offset %v", skew, off)
		}
	}
}

func TestBadReplies(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func([]byte)
		want string
	}{
		{"kiss of death", func(b []byte) { b[1] = 0; copy(b[12:], "RATE") }, "refused"},
		{"unsynchronized", func(b []byte) { b[0] |= 3 << 6 }, "not synchronized"},
		{"client mode", func(b []byte) { b[0] = b[0]&^7 | 3 }, "mode 3"},
		{"sent before received", func(b []byte) {
			binary.BigEndian.PutUint32(b[40:], binary.BigEndian.Uint32(b[32:])-1)
		}, "before it received"},
		{"another request's reply", func(b []byte) { b[31] ^= 1 }, "timeout"},
	} {
		addr := sntpServer(t, time.Hour, tc.bad)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		_, err := Offset(ctx, addr)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	sent := time.Unix(1_800_000_000, 123)
	good, _ := Reply(Request(sent), sent.Add(time.Hour), sent.Add(time.Hour+time.Millisecond))
	f.Add(good)
	f.Add(make([]byte, 48))
	f.Add([]byte{0x24})
	f.Fuzz(func(t *testing.T, b []byte) {
		recv, xmit, err := parseReply(b, sent)
		if err == nil && xmit.Before(recv) {
			t.Fatalf("accepted a reply sent before it was received: %v %v", recv, xmit)
		}
	})
}
