package actor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/erasure"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/vol"
)

// PFS is the node's p-fs as the fs syscalls use it; host/pfshost's Service
// implements it.
type PFS interface {
	Volume() *vol.Volume
	Index() *names.Index
}

// The fs syscalls (abi/README.md § fs, § p-fs) act on one namespace,
// abi.FSNamespace, shared by every module granted "fs" on every node.
const fsNS = abi.FSNamespace

// fsBegin returns p-fs and a context bounding the wait: Policy.FSTimeout,
// cut to 90 % of what is left of the caller's budget, because the watchdog
// counts time spent in syscalls and would interrupt the guest as soon as the
// syscall returned (abi/README.md § Conventions).
func (in *instance) fsBegin() (PFS, context.Context, context.CancelFunc, abi.Errno) {
	get := in.a.sys.cfg.FS
	if get == nil {
		return nil, nil, nil, abi.ENOTSUP
	}
	p, err := get()
	if err != nil || p == nil {
		return nil, nil, nil, abi.EUNAVAILABLE
	}
	timeout := in.a.sys.policy.FSTimeout
	if r := in.rt.Remaining(); r > 0 {
		timeout = min(timeout, r-r/10)
	}
	if timeout <= 0 {
		return nil, nil, nil, abi.ETIMEDOUT
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return p, ctx, cancel, abi.OK
}

// fsErr maps a p-fs error to the errnos of abi/README.md § fs.
func (in *instance) fsErr(ctx context.Context, op string, err error) abi.Errno {
	var place *vol.PlaceError
	switch {
	case err == nil:
		return abi.OK
	case errors.Is(err, fs.ErrNotExist):
		return abi.ENOENT
	case errors.Is(err, names.ErrInvalid):
		return abi.EINVAL
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return abi.ETIMEDOUT
	case errors.Is(err, vol.ErrMissing), errors.As(err, &place), errors.Is(err, erasure.ErrNoNodes):
		return abi.EUNAVAILABLE
	}
	in.a.log.Error("p-fs syscall failed", "op", op, "err", err)
	return abi.EIO
}

// fsID parses a ref that is a content id: exactly 64 hex digits.
func fsID(ref string) (cid.ID, bool) {
	if len(ref) != 2*cid.Size {
		return cid.Undef, false
	}
	id, err := cid.Parse(ref)
	return id, err == nil
}

// fsShared reports whether some version of a name in fsNS (current, older
// or removed) points at id: ids reach only files modules could name.
func fsShared(x *names.Index, id cid.ID) bool {
	for _, n := range x.Names(fsNS) {
		for _, v := range x.History(fsNS, n) {
			if v.Object == id {
				return true
			}
		}
	}
	return false
}

// fsOpen opens a ref: a name's current version, or a content id.
func fsOpen(ctx context.Context, p PFS, ref string) (*vol.File, error) {
	if id, ok := fsID(ref); ok {
		if id == cid.Undef || !fsShared(p.Index(), id) {
			return nil, fs.ErrNotExist
		}
		return p.Volume().Get(ctx, id)
	}
	if err := names.ValidName(ref); err != nil {
		return nil, err
	}
	return p.Volume().Open(ctx, fsNS, ref)
}

// FSPut implements [syscall.Host].
func (in *instance) FSPut(name string, data []byte) (id [abi.FSIDSize]byte, e abi.Errno) {
	if err := names.ValidName(name); err != nil {
		return id, abi.EINVAL
	}
	if _, isID := fsID(name); isID {
		return id, abi.EINVAL
	}
	p, ctx, cancel, e := in.fsBegin()
	if e != abi.OK {
		return id, e
	}
	defer cancel()
	v, err := p.Volume().Put(ctx, fsNS, name, bytes.NewReader(data), nil)
	if e := in.fsErr(ctx, "put", err); e != abi.OK {
		return id, e
	}
	return v.Object, abi.OK
}

// FSRead implements [syscall.Host].
func (in *instance) FSRead(ref string, off int64, n uint32) ([]byte, abi.Errno) {
	p, ctx, cancel, e := in.fsBegin()
	if e != abi.OK {
		return nil, e
	}
	defer cancel()
	f, err := fsOpen(ctx, p, ref)
	if err != nil {
		return nil, in.fsErr(ctx, "read", err)
	}
	defer f.Close()
	if off >= f.Size() {
		return nil, abi.OK
	}
	buf := make([]byte, min(int64(n), f.Size()-off))
	got, err := f.ReadAt(buf, off)
	if err == io.EOF && got == len(buf) {
		err = nil
	}
	if err != nil {
		return nil, in.fsErr(ctx, "read", err)
	}
	return buf[:got], abi.OK
}

// FSStat implements [syscall.Host]. A name is answered from the index; an
// id needs its file object.
func (in *instance) FSStat(ref string) (abi.FSStat, abi.Errno) {
	p, ctx, cancel, e := in.fsBegin()
	if e != abi.OK {
		return abi.FSStat{}, e
	}
	defer cancel()
	if _, isID := fsID(ref); isID {
		f, err := fsOpen(ctx, p, ref)
		if err != nil {
			return abi.FSStat{}, in.fsErr(ctx, "stat", err)
		}
		defer f.Close()
		return abi.FSStat{Size: uint64(f.Size()), ID: f.ID()}, abi.OK
	}
	if err := names.ValidName(ref); err != nil {
		return abi.FSStat{}, abi.EINVAL
	}
	v, ok := p.Index().Latest(fsNS, ref)
	if !ok {
		return abi.FSStat{}, abi.ENOENT
	}
	return abi.FSStat{Size: v.Size, ID: v.Object, Time: v.Time.Wall,
		Versions: uint32(len(p.Index().History(fsNS, ref)))}, abi.OK
}

// FSList implements [syscall.Host].
func (in *instance) FSList(prefix string) ([]string, abi.Errno) {
	p, _, cancel, e := in.fsBegin()
	if e != abi.OK {
		return nil, e
	}
	defer cancel()
	vs := p.Volume().List(fsNS, prefix)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out, abi.OK
}

// FSRemove implements [syscall.Host].
func (in *instance) FSRemove(name string) abi.Errno {
	if err := names.ValidName(name); err != nil {
		return abi.EINVAL
	}
	p, ctx, cancel, e := in.fsBegin()
	if e != abi.OK {
		return e
	}
	defer cancel()
	if _, ok := p.Index().Latest(fsNS, name); !ok {
		return abi.ENOENT
	}
	_, err := p.Volume().Remove(ctx, fsNS, name)
	return in.fsErr(ctx, "remove", err)
}
