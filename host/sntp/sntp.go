// Package sntp owns time over UDP: a Simple Network Time Protocol
// (RFC 4330) client that measures how far the local clock is off, and the
// server side, which the mesh answers on its own UDP port so that a machine
// without a real-time clock can set its clock from a seed of its cluster.
//
// Imports: the standard library only.
package sntp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// ntpEpochOffset is 1900-01-01 to 1970-01-01 in seconds.
const ntpEpochOffset = 2208988800

// PacketSize is the size of an SNTP message without extensions.
const PacketSize = 48

// ntpTime reads a 64-bit NTP timestamp. The seconds wrap in February 2036;
// as RFC 4330 says, a clear top bit means the era after that (times from
// 1968 to 2104 come out right).
func ntpTime(b []byte) time.Time {
	secs := int64(binary.BigEndian.Uint32(b[0:4]))
	if secs&0x80000000 == 0 {
		secs += 1 << 32
	}
	frac := binary.BigEndian.Uint32(b[4:8])
	return time.Unix(secs-ntpEpochOffset, int64(frac)*1e9>>32).UTC()
}

func putNTPTime(b []byte, t time.Time) {
	binary.BigEndian.PutUint32(b[0:4], uint32(t.Unix()+ntpEpochOffset))
	binary.BigEndian.PutUint32(b[4:8], uint32(uint64(t.Nanosecond())<<32/1e9))
}

// Request is a client request (version 4, mode 3) stamped with sent.
func Request(sent time.Time) []byte {
	b := make([]byte, PacketSize)
	b[0] = 4<<3 | 3
	putNTPTime(b[40:], sent)
	return b
}

// Reply answers a client request as a stratum-1 server whose clock read
// recv when the request came and now when the reply goes; for tests and
// for the mesh, which serves time to other machines.
func Reply(req []byte, recv, now time.Time) ([]byte, error) {
	if !IsRequest(req) {
		return nil, errors.New("sntp: not a client request")
	}
	b := make([]byte, PacketSize)
	b[0] = req[0]&0x38 | 4 // same version, mode 4 (server)
	b[1] = 1               // stratum 1
	copy(b[12:16], "LOCL")
	putNTPTime(b[16:], recv) // reference time
	copy(b[24:32], req[40:48])
	putNTPTime(b[32:], recv)
	putNTPTime(b[40:], now)
	return b, nil
}

// Serve answers the SNTP requests that reach pc with clock's time
// until pc is closed (tests use it as a time server on loopback).
func Serve(pc net.PacketConn, clock func() time.Time) error {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		recv := clock()
		if out, err := Reply(buf[:n], recv, clock()); err == nil {
			pc.WriteTo(out, from)
		}
	}
}

// parseReply checks a server's answer to the request sent at sent and
// returns the server's receive and transmit times.
func parseReply(b []byte, sent time.Time) (recv, xmit time.Time, err error) {
	if len(b) < PacketSize {
		return recv, xmit, fmt.Errorf("sntp: short reply (%d bytes)", len(b))
	}
	if mode := b[0] & 7; mode != 4 && mode != 5 {
		return recv, xmit, fmt.Errorf("sntp: reply in mode %d", mode)
	}
	if b[0]>>6 == 3 {
		return recv, xmit, errors.New("sntp: server is not synchronized")
	}
	if b[1] == 0 || b[1] > 15 {
		return recv, xmit, fmt.Errorf("sntp: server refused (stratum %d, %q)", b[1], b[12:16])
	}
	var want [8]byte
	putNTPTime(want[:], sent)
	if string(b[24:32]) != string(want[:]) {
		return recv, xmit, errNotOurs
	}
	recv, xmit = ntpTime(b[32:]), ntpTime(b[40:])
	if xmit.Before(recv) {
		return recv, xmit, errors.New("sntp: server sent before it received")
	}
	return recv, xmit, nil
}

// Offset asks the server at addr (host:port) for the time and returns
// how far the local clock is behind it (add the offset to correct it).
// UDP may lose the request or the answer, so the request is sent again
// every resend until ctx ends; only an answer to the latest one counts.
func Offset(ctx context.Context, addr string) (time.Duration, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	buf := make([]byte, 512)
	for {
		sent := time.Now()
		if _, err := conn.Write(Request(sent)); err != nil {
			return 0, err
		}
		dl := sent.Add(resend)
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		conn.SetReadDeadline(dl)
		for {
			n, err := conn.Read(buf)
			if ne, ok := err.(net.Error); ok && ne.Timeout() && ctx.Err() == nil {
				break // send again
			}
			if err != nil {
				return 0, err
			}
			got := time.Now()
			recv, xmit, err := parseReply(buf[:n], sent)
			if errors.Is(err, errNotOurs) {
				continue
			}
			if err != nil {
				return 0, err
			}
			// RFC 4330: offset = ((T2 - T1) + (T3 - T4)) / 2, with the
			// local times read from the monotonic clock so a step
			// meanwhile does not count.
			t4 := sent.Add(got.Sub(sent))
			return (recv.Sub(sent) + xmit.Sub(t4)) / 2, nil
		}
	}
}

// resend is how long Offset waits for an answer before asking again.
const resend = 500 * time.Millisecond

var errNotOurs = errors.New("sntp: reply is not for our request")

// IsRequest reports whether b looks like a client's request.
func IsRequest(b []byte) bool { return len(b) >= PacketSize && b[0]&7 == 3 }
