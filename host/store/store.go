// Package store is a node's durable local state: one bbolt database in the
// data directory holding each module's private key-value space, the module
// manifests and bytes the node runs, and the modules' last snapshots.
//
// Every write is a bbolt transaction committed with fsync: when a method
// returns nil the data is on disk. Values returned are copies. All methods are
// safe for concurrent use. Imports: bbolt and the stdlib.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrNotFound is returned for a missing key.
var ErrNotFound = errors.New("not found")

// Store is the node's state database.
type Store struct{ db *bolt.DB }

// Open opens (creating if needed) the database at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: locked by another pkhost (is a node already running on this data directory?)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Namespaces of the database. A module's key-value space is KV(name).
const (
	NSManifests = "manifests" // module name -> manifest JSON
	NSModules   = "modules"   // module hash (hex) -> wasm bytes
	NSSnapshots = "snapshots" // module name -> last snapshot
	NSNode      = "node"      // node-wide settings
)

// KV is the namespace of a module's private key-value store.
func KV(module string) string { return "kv/" + module }

// Get returns a copy of the value of key in ns.
func (s *Store) Get(ns string, key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(ns))
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(key)
		if v == nil {
			return ErrNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// Put stores key=val in ns, durably.
func (s *Store) Put(ns string, key, val []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		return b.Put(key, val)
	})
}

// Delete removes key from ns, durably. A missing key is not an error.
func (s *Store) Delete(ns string, key []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(ns))
		if b == nil {
			return nil
		}
		return b.Delete(key)
	})
}

// Keys lists the keys of ns starting with prefix, in byte order.
func (s *Store) Keys(ns string, prefix []byte) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(ns))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, append([]byte{}, k...))
		}
		return nil
	})
	return out, err
}

// DropNamespace deletes ns and everything in it.
func (s *Store) DropNamespace(ns string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		err := tx.DeleteBucket([]byte(ns))
		if errors.Is(err, bolt.ErrBucketNotFound) {
			return nil
		}
		return err
	})
}
