package syscall

import (
	"context"
	"fmt"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// handler is the body of one syscall: arguments in, Errno out. It may assume
// h is non-nil; mem is the calling guest's memory.
type handler func(h Host, mem api.Memory, args []uint64) abi.Errno

// handlers maps every syscall of abi.Syscalls() to its body; a test checks
// that the two agree.
var handlers = map[string]handler{
	abi.SysResultTake:    resultTake,
	abi.SysEventBuffer:   eventBuffer,
	abi.SysSnapshotWrite: snapshotWrite,
	abi.SysSelfInfo:      selfInfo,
	abi.SysLog:           logRecord,
	abi.SysClockNow:      clockNow,
	abi.SysRandomFill:    randomFill,
	abi.SysTopicDeclare:  topicDeclare,
	abi.SysPublish:       publish,
	abi.SysSubscribe:     subscribe,
	abi.SysUnsubscribe:   unsubscribe,
	abi.SysTopicGet:      topicGet,
	abi.SysTimerSet:      timerSet,
	abi.SysTimerCancel:   timerCancel,
	abi.SysKVGet:         kvGet,
	abi.SysKVPut:         kvPut,
	abi.SysKVDelete:      kvDelete,
	abi.SysKVList:        kvList,
	abi.SysCall:          call,
	abi.SysCallReply:     callReply,
	abi.SysNodeStatus:    nodeStatus,
	abi.SysFSPut:         fsPut,
	abi.SysFSRead:        fsRead,
	abi.SysFSStat:        fsStat,
	abi.SysFSList:        fsList,
	abi.SysFSRemove:      fsRemove,
}

// Instantiate registers the "pk" host module in r.
func Instantiate(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(abi.ImportModule)
	for _, s := range abi.Syscalls() {
		h, ok := handlers[s.Name]
		if !ok {
			return fmt.Errorf("syscall %s has no handler", s.Name)
		}
		params := make([]api.ValueType, len(s.Params))
		for i, p := range s.Params {
			params[i] = api.ValueType(p)
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(wrap(h), params, []api.ValueType{api.ValueTypeI32}).
			WithParameterNames(s.ParamNames...).
			Export(s.Name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// wrap adapts a handler to wazero's stack calling convention. A panic in a
// handler is a host bug; it is turned into EIO for the guest rather than
// taking the node down, and the Host hears of it through its log.
func wrap(h handler) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		host := hostFrom(ctx)
		if host == nil {
			stack[0] = uint64(abi.ESTATE)
			return
		}
		// ExportedMemory, not Memory: wazero's Memory returns a typed nil
		// for a module without one, which would defeat call1's nil check.
		stack[0] = uint64(call1(h, host, mod.ExportedMemory(abi.ExportMemory), stack))
	}
}

func call1(h handler, host Host, mem api.Memory, args []uint64) (e abi.Errno) {
	defer func() {
		if r := recover(); r != nil {
			e = abi.EIO
			defer func() { recover() }() // the Host's Log may panic too
			host.Log(8, "syscall panicked (host bug)", nil)
		}
	}()
	if mem == nil {
		return abi.EFAULT
	}
	return h(host, mem, args)
}

// Invoke runs the syscall name with raw arguments against h and mem, exactly
// as a guest call would (used by tests and the fuzzer).
func Invoke(name string, h Host, mem api.Memory, args []uint64) abi.Errno {
	s, ok := abi.LookupSyscall(name)
	hd := handlers[name]
	if !ok || hd == nil {
		return abi.EINVAL
	}
	if h == nil {
		return abi.ESTATE // as a guest call with no Host in its context
	}
	stack := make([]uint64, max(len(s.Params), 1))
	copy(stack, args)
	return call1(hd, h, mem, stack)
}

func u32(v uint64) uint32 { return uint32(v) }
