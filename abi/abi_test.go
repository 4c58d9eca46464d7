package abi

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeMatchesSyscalls keeps abi/README.md and Syscalls() in step: every
// syscall has exactly one heading with its parameter names, and every heading
// is a syscall.
func TestReadmeMatchesSyscalls(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	heads := regexp.MustCompile("(?m)^#### `([a-z_]+)\\(([^)]*)\\) -> errno`$").FindAllStringSubmatch(string(doc), -1)
	documented := map[string]string{}
	for _, h := range heads {
		if _, dup := documented[h[1]]; dup {
			t.Errorf("README documents %s twice", h[1])
		}
		documented[h[1]] = h[2]
	}
	for _, s := range Syscalls() {
		params, ok := documented[s.Name]
		if !ok {
			t.Errorf("syscall %s is not documented in README.md", s.Name)
			continue
		}
		var want []string
		for i, n := range s.ParamNames {
			if s.Params[i] == I64 {
				n += ": i64"
			}
			want = append(want, n)
		}
		if got := strings.Join(want, ", "); got != params {
			t.Errorf("README %s(%s), want (%s)", s.Name, params, got)
		}
		delete(documented, s.Name)
	}
	for n := range documented {
		t.Errorf("README documents %s, which is not in Syscalls()", n)
	}
	for _, e := range Errnos() {
		row := "| " + utoa(uint64(e)) + " | " + e.Name() + " |"
		if !bytes.Contains(doc, []byte(row)) {
			t.Errorf("README error table lacks %q", row)
		}
	}
}

func TestSyscallTable(t *testing.T) {
	groups := map[Group]bool{}
	for _, g := range Groups() {
		groups[g] = true
	}
	seen := map[string]bool{}
	for _, s := range Syscalls() {
		if seen[s.Name] {
			t.Errorf("duplicate syscall %s", s.Name)
		}
		seen[s.Name] = true
		if !groups[s.Group] {
			t.Errorf("%s: unknown group %q", s.Name, s.Group)
		}
		if len(s.Params) != len(s.ParamNames) {
			t.Errorf("%s: %d params, %d names", s.Name, len(s.Params), len(s.ParamNames))
		}
		if got, ok := LookupSyscall(s.Name); !ok || got.Name != s.Name {
			t.Errorf("LookupSyscall(%s) = %v, %v", s.Name, got, ok)
		}
	}
	if _, ok := LookupSyscall("nope"); ok {
		t.Error("LookupSyscall found a syscall that does not exist")
	}
}

func TestErrno(t *testing.T) {
	for _, e := range Errnos() {
		if e.Name() == "" || strings.HasPrefix(e.Name(), "E1") || !strings.HasPrefix(e.Error(), e.Name()+": ") {
			t.Errorf("errno %d: name %q error %q", uint32(e), e.Name(), e.Error())
		}
	}
	if got := Errno(999).Name(); got != "E999" {
		t.Errorf("Errno(999).Name() = %q", got)
	}
	if got := Errno(999).Error(); got != "E999: unknown error" {
		t.Errorf("Errno(999).Error() = %q", got)
	}
}

func TestVersion(t *testing.T) {
	v := Version(Major, Minor)
	if ma, mi := SplitVersion(v); ma != Major || mi != Minor {
		t.Fatalf("SplitVersion(Version(%d,%d)) = %d,%d", Major, Minor, ma, mi)
	}
	if Version(2, 3) != 0x20003 {
		t.Fatalf("Version(2,3) = %#x", Version(2, 3))
	}
}

func TestMessageLayout(t *testing.T) {
	// The drawing in README.md § Events.
	got := AppendMessage(nil, 7, MsgLatest, "t/a", []byte("hi"))
	want := []byte{7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 't', '/', 'a', 'h', 'i'}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendMessage = %v, want %v", got, want)
	}
	m, err := DecodeMessage(got)
	if err != nil || m.Seq != 7 || m.Flags != MsgLatest || m.Topic != "t/a" || string(m.Payload) != "hi" {
		t.Fatalf("DecodeMessage = %+v, %v", m, err)
	}
	for i := range len(want) - 2 { // every truncation inside topic or header fails
		if i < MessageHeaderSize+3 {
			if _, err := DecodeMessage(got[:i]); err != ErrShort {
				t.Errorf("DecodeMessage(%d bytes) err = %v, want ErrShort", i, err)
			}
		}
	}
}

func TestFSStatLayout(t *testing.T) {
	// The drawing in fs.go and README.md § fs_stat.
	st := FSStat{Size: 0x0102, Time: -2, Versions: 3}
	for i := range st.ID {
		st.ID[i] = byte(0xa0 + i)
	}
	b := AppendFSStat([]byte("x"), st)[1:]
	if len(b) != FSStatSize || b[0] != 2 || b[1] != 1 || b[8] != 0xa0 || b[39] != 0xa0+31 ||
		b[40] != 0xfe || b[47] != 0xff || b[48] != 3 || LE32(b[52:]) != 0 {
		t.Fatalf("AppendFSStat = % x", b)
	}
	if got, err := DecodeFSStat(b); err != nil || got != st {
		t.Fatalf("DecodeFSStat = %+v, %v", got, err)
	}
	if _, err := DecodeFSStat(b[:FSStatSize-1]); err != ErrShort {
		t.Fatalf("DecodeFSStat(short) err = %v", err)
	}
}

func TestGrants(t *testing.T) {
	for _, g := range DefaultGrants() {
		if g == GroupNode || g == GroupFS {
			t.Errorf("group %s is granted by default", g)
		}
	}
	for _, n := range []string{SysFSPut, SysFSRead, SysFSStat, SysFSList, SysFSRemove} {
		if s, ok := LookupSyscall(n); !ok || s.Group != GroupFS {
			t.Errorf("%s: %+v %v, want group fs", n, s, ok)
		}
	}
}

func TestRoundTrips(t *testing.T) {
	tm, err := DecodeTimer(AppendTimer(nil, 42, -5))
	if err != nil || tm.ID != 42 || tm.Now != -5 {
		t.Errorf("timer = %+v, %v", tm, err)
	}
	c, err := DecodeCall(AppendCall([]byte("prefix"), 9, "caller", []byte("req"))[6:])
	if err != nil || c.ID != 9 || c.From != "caller" || string(c.Request) != "req" {
		t.Errorf("call = %+v, %v", c, err)
	}
	l, err := DecodeLifecycle(AppendLifecycle(nil, LifeStarted, ReasonSwap))
	if err != nil || l.Code != LifeStarted || l.Reason != ReasonSwap {
		t.Errorf("lifecycle = %+v, %v", l, err)
	}
	items, err := DecodeList(AppendList(nil, []byte("k"), nil, []byte("value")))
	if err != nil || len(items) != 3 || string(items[0]) != "k" || len(items[1]) != 0 || string(items[2]) != "value" {
		t.Errorf("list = %q, %v", items, err)
	}
	for _, bad := range [][]byte{{1}, {5, 0, 0, 0, 'a'}, {0xff, 0xff, 0xff, 0xff}} {
		if _, err := DecodeList(bad); err != ErrShort {
			t.Errorf("DecodeList(%v) err = %v", bad, err)
		}
	}
	for _, short := range []int{0, 7, 15} {
		if _, err := DecodeTimer(make([]byte, short)); err != ErrShort {
			t.Errorf("DecodeTimer(%d) err = %v", short, err)
		}
		if _, err := DecodeLifecycle(make([]byte, short%8)); err != ErrShort {
			t.Errorf("DecodeLifecycle(%d) err = %v", short%8, err)
		}
	}
	if _, err := DecodeCall([]byte{1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 'x'}); err != ErrShort {
		t.Errorf("DecodeCall(truncated) err = %v", err)
	}
}

// The fuzz targets check that decoders never panic and that whatever decodes
// re-encodes to the same bytes.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(AppendMessage(nil, 1, 0, "sensor/raw", []byte("21.5")))
	f.Add(AppendMessage(nil, 1<<60, MsgRetained|MsgLatest, "", nil))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		if re := AppendMessage(nil, m.Seq, m.Flags, m.Topic, m.Payload); !bytes.Equal(re, b) {
			t.Fatalf("re-encode %v != %v", re, b)
		}
	})
}

func FuzzDecodeCall(f *testing.F) {
	f.Add(AppendCall(nil, 3, "prefilter", []byte("stats")))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCall(b)
		if err != nil {
			return
		}
		if re := AppendCall(nil, c.ID, c.From, c.Request); !bytes.Equal(re, b) {
			t.Fatalf("re-encode %v != %v", re, b)
		}
	})
}

func FuzzDecodeList(f *testing.F) {
	f.Add(AppendList(nil, []byte("level"), []byte("info")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := DecodeList(b)
		if err != nil {
			return
		}
		if re := AppendList(nil, items...); !bytes.Equal(re, b) {
			t.Fatalf("re-encode %v != %v", re, b)
		}
	})
}
