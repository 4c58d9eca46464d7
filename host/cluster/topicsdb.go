package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/p-kernel/p-kernel/host/replica"
	bolt "go.etcd.io/bbolt"
)

// Cluster topics are kept on disk (topics.db in the data directory) so that
// they survive a restart of every node at once: a local write is committed
// (fsync) before SetTopic returns, a change learnt from a peer soon after it
// is merged. On open, the stored entries are merged back with their
// original versions, so a restarted node neither loses values nor makes old
// ones look new.

var bucketTopics = []byte("topics")

type topicsDB struct{ db *bolt.DB }

func openTopicsDB(dir string) (*topicsDB, error) {
	db, err := bolt.Open(filepath.Join(dir, "topics.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("cluster topics store: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketTopics)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return &topicsDB{db: db}, nil
}

// encodeEntry: deleted flag (1 byte), version length (2 bytes), version,
// value.
func encodeEntry(e replica.Entry) ([]byte, error) {
	v, err := e.Version.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 3+len(v)+len(e.Value))
	flag := byte(0)
	if e.Deleted {
		flag = 1
	}
	b = append(b, flag)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return append(b, e.Value...), nil
}

func decodeEntry(topic string, b []byte) (replica.Entry, error) {
	if len(b) < 3 || b[0] > 1 {
		return replica.Entry{}, errors.New("short or unknown record")
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	if len(b) < 3+n {
		return replica.Entry{}, errors.New("truncated version")
	}
	e := replica.Entry{Topic: topic, Deleted: b[0] == 1}
	if err := e.Version.UnmarshalBinary(b[3 : 3+n]); err != nil {
		return replica.Entry{}, err
	}
	if !e.Deleted {
		e.Value = append([]byte{}, b[3+n:]...)
	}
	return e, nil
}

// save writes entries in one transaction.
func (t *topicsDB) save(es []replica.Entry) error {
	if len(es) == 0 {
		return nil
	}
	return t.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketTopics)
		for _, e := range es {
			b, err := encodeEntry(e)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(e.Topic), b); err != nil {
				return err
			}
		}
		return nil
	})
}

// load returns every stored entry; an unreadable record is reported and
// skipped (a peer will send the value again).
func (t *topicsDB) load() (es []replica.Entry, bad []string, err error) {
	err = t.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTopics).ForEach(func(k, v []byte) error {
			e, derr := decodeEntry(string(k), v)
			if derr != nil {
				bad = append(bad, fmt.Sprintf("%q: %v", k, derr))
				return nil
			}
			es = append(es, e)
			return nil
		})
	})
	return es, bad, err
}

// prune drops stored topics the store no longer has (collected tombstones).
func (t *topicsDB) prune(keep map[string]bool) error {
	return t.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketTopics)
		var drop [][]byte
		bk.ForEach(func(k, _ []byte) error {
			if !keep[string(k)] {
				drop = append(drop, append([]byte{}, k...))
			}
			return nil
		})
		for _, k := range drop {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *topicsDB) close() error { return t.db.Close() }
