package pfshost

import (
	"io/fs"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/vol"
)

type oneNode struct{ s *blockstore.Mem }

func (o oneNode) Self() string                  { return "n1" }
func (o oneNode) Live() []string                { return []string{"n1"} }
func (o oneNode) Store(string) blockstore.Store { return o.s }

func newShared(t *testing.T) (*SharedFS, *vol.Volume) {
	t.Helper()
	v, err := vol.Open(vol.Config{Cluster: oneNode{blockstore.NewMem()}, Names: &vol.MemNames{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return NewSharedFS(func() *vol.Volume { return v }, SharedNamespace, t.TempDir()), v
}

func must(t *testing.T, what string, e experimentalsys.Errno) {
	t.Helper()
	if e != 0 {
		t.Fatalf("%s: %v", what, e)
	}
}

func writeFile(t *testing.T, s *SharedFS, name string, flag experimentalsys.Oflag, data string) {
	t.Helper()
	f, e := s.OpenFile(name, flag, 0o644)
	must(t, "open "+name, e)
	if _, e := f.Write([]byte(data)); e != 0 {
		t.Fatalf("write %s: %v", name, e)
	}
	must(t, "close "+name, f.Close())
}

func readFile(t *testing.T, s *SharedFS, name string) (string, experimentalsys.Errno) {
	t.Helper()
	f, e := s.OpenFile(name, experimentalsys.O_RDONLY, 0)
	if e != 0 {
		return "", e
	}
	defer f.Close()
	var out []byte
	buf := make([]byte, 3) // small reads: several calls
	for {
		n, e := f.Read(buf)
		if e != 0 {
			return "", e
		}
		if n == 0 {
			return string(out), 0
		}
		out = append(out, buf[:n]...)
	}
}

func TestSharedFSFiles(t *testing.T) {
	s, v := newShared(t)
	const create = experimentalsys.O_WRONLY | experimentalsys.O_CREAT | experimentalsys.O_TRUNC
	if _, e := readFile(t, s, "nope"); e != experimentalsys.ENOENT {
		t.Fatalf("reading a missing file: %v", e)
	}
	writeFile(t, s, "/notes/a.txt", create, "hello")
	if got, e := readFile(t, s, "notes/a.txt"); e != 0 || got != "hello" {
		t.Fatalf("read back %q %v", got, e)
	}
	// Append keeps the old content and makes a second version.
	writeFile(t, s, "notes/a.txt", experimentalsys.O_WRONLY|experimentalsys.O_APPEND, ", world")
	if got, _ := readFile(t, s, "notes/a.txt"); got != "hello, world" {
		t.Fatalf("after append: %q", got)
	}
	if h := v.History(SharedNamespace, "notes/a.txt"); len(h) != 2 {
		t.Fatalf("history has %d versions, want 2", len(h))
	}
	// Pwrite into the middle of an opened file.
	f, e := s.OpenFile("notes/a.txt", experimentalsys.O_RDWR, 0)
	must(t, "open rdwr", e)
	f.Pwrite([]byte("J"), 0)
	buf := make([]byte, 5)
	if n, e := f.Pread(buf, 0); e != 0 || string(buf[:n]) != "Jello" {
		t.Fatalf("pread in a written file: %q %v", buf[:n], e)
	}
	must(t, "close rdwr", f.Close())
	if got, _ := readFile(t, s, "notes/a.txt"); got != "Jello, world" {
		t.Fatalf("after pwrite: %q", got)
	}
	// Opening for writing and closing without writing adds nothing.
	f, e = s.OpenFile("notes/a.txt", experimentalsys.O_WRONLY, 0)
	must(t, "open", e)
	must(t, "close", f.Close())
	if h := v.History(SharedNamespace, "notes/a.txt"); len(h) != 3 {
		t.Fatalf("an unchanged close made a version: %d", len(h))
	}

	st, e := s.Stat("notes/a.txt")
	if e != 0 || st.Size != int64(len("Jello, world")) || st.Mode.IsDir() {
		t.Fatalf("stat file: %+v %v", st, e)
	}
	st, e = s.Stat("notes")
	if e != 0 || !st.Mode.IsDir() {
		t.Fatalf("stat implied dir: %+v %v", st, e)
	}
	if _, e := s.OpenFile("notes/a.txt", create|experimentalsys.O_EXCL, 0); e != experimentalsys.EEXIST {
		t.Fatalf("O_EXCL on an existing file: %v", e)
	}
	if _, e := s.OpenFile("notes", create, 0); e != experimentalsys.EISDIR {
		t.Fatalf("writing a directory: %v", e)
	}
	if _, e := s.OpenFile("notes/a.txt", experimentalsys.O_DIRECTORY, 0); e != experimentalsys.ENOTDIR {
		t.Fatalf("O_DIRECTORY on a file: %v", e)
	}

	// Rename, unlink; history stays.
	must(t, "rename", s.Rename("notes/a.txt", "notes/b.txt"))
	if _, e := readFile(t, s, "notes/a.txt"); e != experimentalsys.ENOENT {
		t.Fatalf("old name after rename: %v", e)
	}
	if got, _ := readFile(t, s, "notes/b.txt"); got != "Jello, world" {
		t.Fatalf("new name after rename: %q", got)
	}
	must(t, "unlink", s.Unlink("notes/b.txt"))
	if _, e := s.Stat("notes/b.txt"); e != experimentalsys.ENOENT {
		t.Fatalf("stat after unlink: %v", e)
	}
	if h := v.History(SharedNamespace, "notes/b.txt"); len(h) != 2 || !h[1].Removed() {
		t.Fatalf("history after unlink: %+v", h)
	}
	if e := s.Unlink("notes/b.txt"); e != experimentalsys.ENOENT {
		t.Fatalf("unlink twice: %v", e)
	}
	if _, e := s.OpenFile("../escape", create, 0); e != 0 {
		// "../escape" cleans to "escape" inside the mount: allowed.
		t.Fatalf("a path with .. inside the mount: %v", e)
	}
}

func TestSharedFSDirs(t *testing.T) {
	s, _ := newShared(t)
	const create = experimentalsys.O_WRONLY | experimentalsys.O_CREAT
	writeFile(t, s, "a/1", create, "1")
	writeFile(t, s, "a/b/2", create, "2")
	writeFile(t, s, "top", create, "t")
	must(t, "mkdir", s.Mkdir("empty", 0o755))
	if e := s.Mkdir("a", 0o755); e != experimentalsys.EEXIST {
		t.Fatalf("mkdir of an implied dir: %v", e)
	}
	list := func(dir string) map[string]fs.FileMode {
		d, e := s.OpenFile(dir, experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
		must(t, "opendir "+dir, e)
		defer d.Close()
		out := map[string]fs.FileMode{}
		for {
			es, e := d.Readdir(1)
			must(t, "readdir", e)
			if len(es) == 0 {
				return out
			}
			out[es[0].Name] = es[0].Type
		}
	}
	root := list(".")
	if len(root) != 3 || root["a"] != fs.ModeDir || root["top"] != 0 || root["empty"] != fs.ModeDir {
		t.Fatalf("root listing: %v", root)
	}
	if a := list("a"); len(a) != 2 || a["1"] != 0 || a["b"] != fs.ModeDir {
		t.Fatalf("a listing: %v", a)
	}
	if e := s.Rmdir("a"); e != experimentalsys.ENOTEMPTY {
		t.Fatalf("rmdir non-empty: %v", e)
	}
	must(t, "rmdir empty", s.Rmdir("empty"))
	if _, e := s.Stat("empty"); e != experimentalsys.ENOENT {
		t.Fatalf("stat removed dir: %v", e)
	}
}

func TestSharedFSBeforePFS(t *testing.T) {
	s := NewSharedFS(func() *vol.Volume { return nil }, SharedNamespace, t.TempDir())
	if _, e := s.Stat("x"); e != experimentalsys.EAGAIN {
		t.Fatalf("stat before p-fs is up: %v", e)
	}
	if _, e := s.OpenFile("x", experimentalsys.O_RDONLY, 0); e != experimentalsys.EAGAIN {
		t.Fatalf("open before p-fs is up: %v", e)
	}
}
