package polyglot_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/p-kernel/p-kernel/abi"
)

// TestCHeaderMatchesABI keeps sdk/c/pk.h in step with package abi: every
// constant it defines has the abi value, and it declares every syscall, in
// reference order, importing pk.<name> with the abi parameter names and wasm
// types (int64_t/uint64_t by value is i64; everything else is i32 on wasm32).
func TestCHeaderMatchesABI(t *testing.T) {
	src, err := os.ReadFile("../../sdk/c/pk.h")
	if err != nil {
		t.Fatal(err)
	}
	h := string(src)

	defs := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^#define (PK_[A-Z0-9_]+) ([^/\n]+?)\s*(?:/\*.*)?$`).FindAllStringSubmatch(h, -1) {
		defs[m[1]] = m[2]
	}
	// eval evaluates the few forms pk.h uses: numbers, names of other
	// defines, "a << b", "a | b" and parentheses around a whole expression.
	var eval func(string) (int64, bool)
	eval = func(s string) (int64, bool) {
		s = strings.TrimSpace(s)
		if wrapped(s) {
			return eval(s[1 : len(s)-1])
		}
		if a, b, ok := strings.Cut(s, "|"); ok { // lowest precedence first
			x, ok1 := eval(a)
			y, ok2 := eval(b)
			return x | y, ok1 && ok2
		}
		if a, b, ok := strings.Cut(s, "<<"); ok {
			x, ok1 := eval(a)
			y, ok2 := eval(b)
			return x << y, ok1 && ok2
		}
		if d, ok := defs[s]; ok {
			return eval(d)
		}
		v, err := strconv.ParseInt(s, 0, 64)
		return v, err == nil
	}
	want := map[string]int64{
		"PK_ABI_MAJOR": abi.Major, "PK_ABI_MINOR": abi.Minor,
		"PK_ABI_VERSION": int64(abi.Version(abi.Major, abi.Minor)),

		"PK_EVENT_MESSAGE": int64(abi.EventMessage), "PK_EVENT_TIMER": int64(abi.EventTimer),
		"PK_EVENT_CALL": int64(abi.EventCall), "PK_EVENT_LIFECYCLE": int64(abi.EventLifecycle),
		"PK_EVENT_MEMBER": int64(abi.EventMember),
		"PK_MSG_RETAINED": abi.MsgRetained, "PK_MSG_LATEST": abi.MsgLatest,
		"PK_LIFE_STARTED": abi.LifeStarted, "PK_LIFE_STOPPING": abi.LifeStopping,
		"PK_REASON_FRESH": abi.ReasonFresh, "PK_REASON_RESTART": abi.ReasonRestart,
		"PK_REASON_SWAP": abi.ReasonSwap, "PK_REASON_UNLOAD": abi.ReasonUnload,
		"PK_REASON_SHUTDOWN": abi.ReasonShutdown, "PK_REASON_RESUME": abi.ReasonResume,
		"PK_MESSAGE_HEADER_SIZE": abi.MessageHeaderSize, "PK_TIMER_EVENT_SIZE": abi.TimerEventSize,
		"PK_CALL_HEADER_SIZE": abi.CallHeaderSize, "PK_LIFECYCLE_EVENT_SIZE": abi.LifecycleEventSize,

		"PK_KIND_ANY": abi.KindAny, "PK_KIND_QUEUE": abi.KindQueue, "PK_KIND_LATEST": abi.KindLatest,
		"PK_SCOPE_LOCAL": abi.ScopeLocal, "PK_SCOPE_CLUSTER": abi.ScopeCluster,
		"PK_SUB_PREFIX":     abi.SubPrefix,
		"PK_CLOCK_REALTIME": abi.ClockRealtime, "PK_CLOCK_MONOTONIC": abi.ClockMonotonic,
		"PK_LEVEL_DEBUG": abi.LevelDebug, "PK_LEVEL_INFO": abi.LevelInfo,
		"PK_LEVEL_WARN": abi.LevelWarn, "PK_LEVEL_ERROR": abi.LevelError,

		"PK_MAX_TOPIC_LEN": abi.MaxTopicLen, "PK_MAX_PAYLOAD": abi.MaxPayload,
		"PK_MAX_KEY_LEN": abi.MaxKeyLen, "PK_MAX_VALUE_LEN": abi.MaxValueLen,
		"PK_MAX_MODULE_NAME": abi.MaxModuleName, "PK_MAX_TIMERS": abi.MaxTimers,
		"PK_MAX_SUBS": abi.MaxSubs, "PK_MAX_LOG_LEN": abi.MaxLogLen,
		"PK_MIN_TIMER_NS": abi.MinTimer, "PK_MAX_SNAPSHOT": abi.MaxSnapshot,
		"PK_MAX_FS_NAME": abi.MaxFSName, "PK_MAX_FS_READ": abi.MaxFSRead,
		"PK_FS_ID_SIZE": abi.FSIDSize, "PK_FS_STAT_SIZE": abi.FSStatSize,
	}
	for _, e := range abi.Errnos() {
		want["PK_"+e.Name()] = int64(e)
	}
	for name, w := range want {
		d, ok := defs[name]
		if !ok {
			t.Errorf("pk.h does not define %s (= %d)", name, w)
			continue
		}
		if v, ok := eval(d); !ok || v != w {
			t.Errorf("pk.h: #define %s %s, want %d", name, d, w)
		}
	}
	for name, d := range defs {
		if _, ok := want[name]; !ok && name != "PK_H" {
			t.Errorf("pk.h defines %s %s, which this test does not check against abi", name, d)
		}
	}

	decls := regexp.MustCompile(`(?m)^PK_IMPORT\((\w+)\) pk_errno_t pk_(\w+)\(([^)]*)\);$`).FindAllStringSubmatch(h, -1)
	scs := abi.Syscalls()
	if len(decls) != len(scs) {
		t.Errorf("pk.h declares %d syscalls, abi has %d", len(decls), len(scs))
	}
	for i, sc := range scs {
		if i >= len(decls) {
			t.Errorf("pk.h does not declare %s", sc.Name)
			continue
		}
		d := decls[i]
		if d[1] != sc.Name || d[2] != sc.Name {
			t.Errorf("pk.h declaration %d: PK_IMPORT(%s) pk_%s, want %s (reference order)", i, d[1], d[2], sc.Name)
			continue
		}
		params := strings.Split(d[3], ", ")
		if len(params) != len(sc.Params) {
			t.Errorf("pk.h: pk_%s has %d parameters, want %d", sc.Name, len(params), len(sc.Params))
			continue
		}
		for j, p := range params {
			typ, name := p[:strings.LastIndexAny(p, " *")+1], p[strings.LastIndexAny(p, " *")+1:]
			vt := abi.I32
			if t := strings.TrimSpace(typ); t == "int64_t" || t == "uint64_t" {
				vt = abi.I64
			}
			if name != sc.ParamNames[j] || vt != sc.Params[j] {
				t.Errorf("pk.h: pk_%s parameter %d is %q (%s), want %s (%s)",
					sc.Name, j, p, typeName(vt), sc.ParamNames[j], typeName(sc.Params[j]))
			}
		}
	}
}

func typeName(v abi.ValType) string {
	if v == abi.I64 {
		return "i64"
	}
	return "i32"
}

// wrapped reports whether s is "(...)" with its first parenthesis closing last.
func wrapped(s string) bool {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return false
	}
	depth := 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i == len(s)-1
			}
		}
	}
	return false
}
