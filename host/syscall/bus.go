package syscall

import (
	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero/api"
)

// topicDeclare(topic, topic_len, kind, scope).
func topicDeclare(h Host, mem api.Memory, a []uint64) abi.Errno {
	t, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxTopicLen)
	if e != abi.OK {
		return e
	}
	kind, scope := u32(a[2]), u32(a[3])
	if (kind != abi.KindQueue && kind != abi.KindLatest) || scope > abi.ScopeCluster {
		return abi.EINVAL
	}
	return h.TopicDeclare(t, kind, scope)
}

// publish(topic, topic_len, data, data_len, kind).
func publish(h Host, mem api.Memory, a []uint64) abi.Errno {
	t, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxTopicLen)
	if e != abi.OK {
		return e
	}
	if kind := u32(a[4]); kind > abi.KindLatest {
		return abi.EINVAL
	}
	if u32(a[3]) > abi.MaxPayload {
		return abi.EMSGSIZE
	}
	data, e := readCopy(mem, u32(a[2]), u32(a[3]))
	if e != abi.OK {
		return e
	}
	return h.Publish(t, data, u32(a[4]))
}

// subscribe(topic, topic_len, flags).
func subscribe(h Host, mem api.Memory, a []uint64) abi.Errno {
	return subscription(h.Subscribe, mem, a)
}

// unsubscribe(topic, topic_len, flags).
func unsubscribe(h Host, mem api.Memory, a []uint64) abi.Errno {
	return subscription(h.Unsubscribe, mem, a)
}

// subscription checks the arguments shared by subscribe and unsubscribe.
func subscription(op func(topic string, flags uint32) abi.Errno, mem api.Memory, a []uint64) abi.Errno {
	t, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxTopicLen)
	if e != abi.OK {
		return e
	}
	if u32(a[2])&^abi.SubPrefix != 0 {
		return abi.EINVAL
	}
	return op(t, u32(a[2]))
}

// topicGet(topic, topic_len, buf, cap, len_out, seq_out).
func topicGet(h Host, mem api.Memory, a []uint64) abi.Errno {
	t, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxTopicLen)
	if e != abi.OK {
		return e
	}
	if e := checkResult(mem, u32(a[2]), u32(a[3]), u32(a[4])); e != abi.OK {
		return e
	}
	if _, ok := mem.Read(u32(a[5]), 8); !ok {
		return abi.EFAULT
	}
	val, seq, e := h.TopicGet(t)
	if e != abi.OK {
		return e
	}
	e = writeResult(mem, h.Kept(), val, u32(a[2]), u32(a[3]), u32(a[4]))
	if e == abi.OK || e == abi.E2BIG {
		mem.WriteUint64Le(u32(a[5]), seq)
	}
	return e
}
