package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// fakeStore keeps the log in memory the way the stores do: AppendAudit
// numbers and chains entries, AuditEntries returns them in Seq order.
// Tests tamper with entries directly, as someone with database access could.
type fakeStore struct {
	mu      sync.Mutex
	entries []store.AuditEntry
	err     error
	calls   int
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) AppendAudit(_ context.Context, e store.AuditEntry, hash store.HashFunc) (store.AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.AuditEntry{}, f.err
	}
	e.Seq, e.PrevHash = 1, ""
	if n := len(f.entries); n > 0 {
		e.Seq, e.PrevHash = f.entries[n-1].Seq+1, f.entries[n-1].Hash
	}
	e.Hash = hash(e)
	f.entries = append(f.entries, e)
	return e, nil
}

func (f *fakeStore) AuditEntries(_ context.Context, afterSeq int64, since time.Time, limit int) ([]store.AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	sorted := slices.Clone(f.entries)
	slices.SortStableFunc(sorted, func(a, b store.AuditEntry) int { return int(a.Seq - b.Seq) })
	var out []store.AuditEntry
	for _, e := range sorted {
		if e.Seq > afterSeq && !e.At.Before(since) && (limit == 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newLog returns a log of n entries recorded through Log.Record, one a
// second from t0 (plus some nanoseconds, which the log drops).
func newLog(t *testing.T, n int) *fakeStore {
	t.Helper()
	fs := &fakeStore{}
	l := New(fs)
	i := 0
	l.now = func() time.Time { return t0.Add(time.Duration(i)*time.Second + 789) }
	for i = 1; i <= n; i++ {
		details := map[string]any{"run": i, "note": "<ok> & done", "counts": map[string]int{"add": i % 3, "change": 1}}
		if _, err := l.Record(context.Background(), fmt.Sprintf("user%d", i%4), "plan.apply", fmt.Sprintf("gitea:org/infra!%d/prod", i), details); err != nil {
			t.Fatal(err)
		}
	}
	return fs
}

// rehash recomputes an entry's hash, as an attacker who knows the
// (public) hash function would after changing it.
func rehash(e *store.AuditEntry) { e.Hash = Hash(*e) }

func at(entries []store.AuditEntry, seq int64) *store.AuditEntry {
	for i := range entries {
		if entries[i].Seq == seq {
			return &entries[i]
		}
	}
	panic(fmt.Sprintf("no entry %d", seq))
}

func remove(entries []store.AuditEntry, seqs ...int64) []store.AuditEntry {
	return slices.DeleteFunc(entries, func(e store.AuditEntry) bool { return slices.Contains(seqs, e.Seq) })
}

// renumberFrom shifts the Seq of every entry from seq on by delta and
// rehashes them, keeping their PrevHash.
func renumberFrom(entries []store.AuditEntry, seq, delta int64) {
	for i := range entries {
		if entries[i].Seq >= seq {
			entries[i].Seq += delta
			rehash(&entries[i])
		}
	}
}

func TestVerifyIntact(t *testing.T) {
	fs := newLog(t, 100)
	for _, pageSize := range []int{0, 1, 7, 99, 100, 101, 1000} {
		t.Run(fmt.Sprint("page ", pageSize), func(t *testing.T) {
			rep, err := Verify(context.Background(), fs, pageSize)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Entries != 100 || rep.LastSeq != 100 || rep.LastHash != fs.entries[99].Hash {
				t.Errorf("report %+v (problem %v)", rep, rep.FirstBroken)
			}
		})
	}
	rep, err := Verify(context.Background(), &fakeStore{}, 10)
	if err != nil || !rep.OK() || rep.Entries != 0 || rep.LastSeq != 0 || rep.LastHash != "" {
		t.Errorf("empty log: %+v, %v", rep, err)
	}
}

func TestVerifyTampered(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]store.AuditEntry) []store.AuditEntry
		want   *Problem // nil: the log still verifies
	}{
		{"actor of 37 edited", func(es []store.AuditEntry) []store.AuditEntry {
			at(es, 37).Actor = "mallory"
			return es
		}, &Problem{37, Edited, "its content does not match its stored hash"}},
		{"action of 37 edited", func(es []store.AuditEntry) []store.AuditEntry {
			at(es, 37).Action = "plan.discard"
			return es
		}, &Problem{37, Edited, ""}},
		{"subject of 37 edited", func(es []store.AuditEntry) []store.AuditEntry {
			at(es, 37).Subject += "x"
			return es
		}, &Problem{37, Edited, ""}},
		{"details of 37 edited", func(es []store.AuditEntry) []store.AuditEntry {
			e := at(es, 37)
			e.Details = bytes.Replace(e.Details, []byte(`"run":37`), []byte(`"run":38`), 1)
			return es
		}, &Problem{37, Edited, ""}},
		{"time of 37 edited by a microsecond", func(es []store.AuditEntry) []store.AuditEntry {
			at(es, 37).At = at(es, 37).At.Add(time.Microsecond)
			return es
		}, &Problem{37, Edited, ""}},
		{"prev hash of 37 edited", func(es []store.AuditEntry) []store.AuditEntry {
			at(es, 37).PrevHash = at(es, 35).Hash
			return es
		}, &Problem{37, Edited, ""}},
		{"hash of 37 edited", func(es []store.AuditEntry) []store.AuditEntry {
			at(es, 37).Hash = strings.Repeat("0", 64)
			return es
		}, &Problem{37, Edited, "stored hash 000000000000…"}},
		{"details and time zone reformatted by the database", func(es []store.AuditEntry) []store.AuditEntry {
			for i := range es {
				var buf bytes.Buffer
				_ = json.Indent(&buf, es[i].Details, "", "  ")
				es[i].Details = bytes.ReplaceAll(buf.Bytes(), []byte(`\u003c`), []byte(`<`))
				es[i].At = es[i].At.In(time.FixedZone("CET", 3600))
			}
			return es
		}, nil},
		{"42 deleted", func(es []store.AuditEntry) []store.AuditEntry {
			return remove(es, 42)
		}, &Problem{42, Deleted, "entry 42 is missing: entry 41 is followed by entry 43"}},
		{"42 to 44 deleted", func(es []store.AuditEntry) []store.AuditEntry {
			return remove(es, 42, 43, 44)
		}, &Problem{42, Deleted, "entries 42 to 44 are missing: entry 41 is followed by entry 45"}},
		{"first deleted", func(es []store.AuditEntry) []store.AuditEntry {
			return remove(es, 1)
		}, &Problem{1, Deleted, "entry 1 is missing: the log starts at entry 2"}},
		{"42 deleted, the rest renumbered and rehashed", func(es []store.AuditEntry) []store.AuditEntry {
			es = remove(es, 42)
			renumberFrom(es, 43, -1)
			return es
		}, &Problem{42, Inserted, "it is chained to an entry that is not in the log (prev_hash "}},
		{"10 and 20 swapped with their seq", func(es []store.AuditEntry) []store.AuditEntry {
			at(es, 10).Seq, at(es, 20).Seq = 20, 10
			return es
		}, &Problem{10, Edited, ""}},
		{"10 and 20 swapped with their seq, rehashed", func(es []store.AuditEntry) []store.AuditEntry {
			a, b := at(es, 10), at(es, 20)
			a.Seq, b.Seq = 20, 10
			rehash(a)
			rehash(b)
			return es
		}, &Problem{10, Reordered, "it is chained after entry 19, not after entry 9: entries were moved"}},
		// The heuristic's blind spot: named at the right place, as inserted.
		{"10 and 11 swapped with their seq, rehashed", func(es []store.AuditEntry) []store.AuditEntry {
			a, b := at(es, 10), at(es, 11)
			a.Seq, b.Seq = 11, 10
			rehash(a)
			rehash(b)
			return es
		}, &Problem{10, Inserted, "not to entry 9"}},
		{"1 and 3 swapped with their seq, rehashed", func(es []store.AuditEntry) []store.AuditEntry {
			a, b := at(es, 1), at(es, 3)
			a.Seq, b.Seq = 3, 1
			rehash(a)
			rehash(b)
			return es
		}, &Problem{1, Reordered, "it is chained after entry 2, not after the start of the log"}},
		{"50 inserted, chained to 49", func(es []store.AuditEntry) []store.AuditEntry {
			renumberFrom(es, 50, 1)
			forged := store.AuditEntry{Seq: 50, At: t0, Actor: "mallory", Action: "lock.release", PrevHash: at(es, 49).Hash}
			rehash(&forged)
			return append(es, forged)
		}, &Problem{50, Inserted, "entry 51 is chained directly to entry 49, so entry 50 between them does not belong"}},
		{"50 inserted, chained to nothing", func(es []store.AuditEntry) []store.AuditEntry {
			renumberFrom(es, 50, 1)
			forged := store.AuditEntry{Seq: 50, At: t0, Actor: "mallory", Action: "lock.release", PrevHash: strings.Repeat("ab", 32)}
			rehash(&forged)
			return append(es, forged)
		}, &Problem{50, Inserted, "it is chained to an entry that is not in the log (prev_hash abababababab…), not to entry 49"}},
		// Possible only without a unique Seq, and seen only within a page.
		{"second entry 45", func(es []store.AuditEntry) []store.AuditEntry {
			return append(es, *at(es, 45))
		}, &Problem{45, Inserted, "entry 45 comes after entry 45"}},
		{"tail truncated: undetectable by the chain", func(es []store.AuditEntry) []store.AuditEntry {
			return remove(es, 96, 97, 98, 99, 100)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newLog(t, 100)
			fs.entries = tt.tamper(fs.entries)
			rep, err := Verify(context.Background(), fs, 10)
			if err != nil {
				t.Fatal(err)
			}
			got := rep.FirstBroken
			switch {
			case tt.want == nil && got != nil:
				t.Fatalf("Verify found %v; want the log to verify", got)
			case tt.want == nil:
				return
			case got == nil:
				t.Fatalf("Verify found nothing; want %v", tt.want)
			}
			if got.Seq != tt.want.Seq || got.Kind != tt.want.Kind || !strings.Contains(got.Detail, tt.want.Detail) {
				t.Errorf("first broken:\n got %v\nwant %v…", got, tt.want)
			}
			if rep.Entries != len(fs.entries) {
				t.Errorf("Entries = %d, want %d", rep.Entries, len(fs.entries))
			}
		})
	}
}

// The chain cannot show a cut tail, but the last entry anchored elsewhere
// can: the log no longer ends where it did.
func TestTruncationNeedsAnAnchor(t *testing.T) {
	fs := newLog(t, 100)
	before, err := Verify(context.Background(), fs, 0)
	if err != nil {
		t.Fatal(err)
	}
	fs.entries = fs.entries[:95]
	after, err := Verify(context.Background(), fs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !after.OK() {
		t.Fatalf("truncated log: %v", after.FirstBroken)
	}
	if after.LastSeq != 95 || after.LastHash == before.LastHash || before.LastSeq != 100 {
		t.Errorf("anchor %d %s, after truncation %d %s", before.LastSeq, before.LastHash, after.LastSeq, after.LastHash)
	}
}

func TestVerifyStoreError(t *testing.T) {
	boom := errors.New("database is locked")
	_, err := Verify(context.Background(), &fakeStore{err: boom}, 10)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "verifying audit log: reading entries after 0: ") {
		t.Errorf("Verify = %v", err)
	}
}

func TestRecord(t *testing.T) {
	fs := &fakeStore{}
	l := New(fs)
	l.now = func() time.Time { return time.Date(2025, 3, 1, 13, 0, 0, 123456789, time.FixedZone("CET", 3600)) }
	ctx := context.Background()

	e, err := l.Record(ctx, "alice", "lock.release", "gitea:org/infra!4/prod", struct {
		Reason string `json:"reason"`
		Run    int64  `json:"run"`
	}{"merged", 7})
	if err != nil {
		t.Fatal(err)
	}
	want := store.AuditEntry{
		Seq: 1, At: time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC),
		Actor: "alice", Action: "lock.release", Subject: "gitea:org/infra!4/prod",
		Details: []byte(`{"reason":"merged","run":7}`),
	}
	want.Hash = Hash(want)
	if !entriesEqual(e, want) {
		t.Errorf("Record =\n %+v\nwant\n %+v", e, want)
	}

	tests := []struct {
		name    string
		details any
		want    string // "" for success with no details
	}{
		{"nil", nil, ""},
		{"typed nil map", map[string]any(nil), ""},
		{"not an object", []int{1}, "details must be a JSON object, got []int"},
		{"not marshallable", map[string]any{"c": make(chan int)}, "marshalling details: json: unsupported type: chan int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := l.Record(ctx, "sluice", "drift.check", "gitea:org/infra", tt.details)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "" && e.Details != nil:
				t.Errorf("Details = %q, want none", e.Details)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Record = %v, want an error containing %q", err, tt.want)
			}
		})
	}

	if _, err := l.Record(ctx, "alice", "", "y", nil); err == nil {
		t.Error("Record without an action succeeded")
	}
	boom := errors.New("disk full")
	fs.err = boom
	if _, err := l.Record(ctx, "alice", "plan.apply", "s", nil); !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "recording audit entry plan.apply on s: ") {
		t.Errorf("Record with a failing store = %v", err)
	}
}

func entriesEqual(a, b store.AuditEntry) bool {
	return a.Seq == b.Seq && a.At.Equal(b.At) && a.At.Location() == b.At.Location() && a.Actor == b.Actor && a.Action == b.Action &&
		a.Subject == b.Subject && bytes.Equal(a.Details, b.Details) && a.PrevHash == b.PrevHash && a.Hash == b.Hash
}

func TestHash(t *testing.T) {
	base := store.AuditEntry{
		Seq: 7, At: time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC),
		Actor: "alice", Action: "plan.apply", Subject: "gitea:org/infra!4/prod",
		Details: []byte(`{"run":7,"counts":{"add":1,"change":0}}`), PrevHash: strings.Repeat("a", 64),
	}
	// A fixed vector: a change of the encoding breaks every stored log, so
	// it must be deliberate (and get a new hashDomain version).
	if got, want := Hash(base), "9f345a975a9a3943c0e676a97d8955ae34ea05f410c590565408b7ff75f40cc8"; got != want {
		t.Errorf("Hash(base) = %s, want %s", got, want)
	}
	with := func(f func(*store.AuditEntry)) store.AuditEntry {
		e := base
		f(&e)
		return e
	}
	same := []struct {
		name string
		e    store.AuditEntry
	}{
		{"another time zone", with(func(e *store.AuditEntry) { e.At = e.At.In(time.FixedZone("X", -7*3600)) })},
		{"below a microsecond", with(func(e *store.AuditEntry) { e.At = e.At.Add(999) })},
		{"details reordered and spaced", with(func(e *store.AuditEntry) { e.Details = []byte(` { "counts" : {"change":0, "add":1}, "run":7 }`) })},
		{"stored hash ignored", with(func(e *store.AuditEntry) { e.Hash = "whatever" })},
	}
	for _, tt := range same {
		if Hash(tt.e) != Hash(base) {
			t.Errorf("%s: hash changed", tt.name)
		}
	}
	different := []struct {
		name string
		e    store.AuditEntry
	}{
		{"seq", with(func(e *store.AuditEntry) { e.Seq = 8 })},
		{"microsecond", with(func(e *store.AuditEntry) { e.At = e.At.Add(time.Microsecond) })},
		{"field boundary moved", with(func(e *store.AuditEntry) { e.Actor, e.Action = "alicep", "lan.apply" })},
		{"subject into details", with(func(e *store.AuditEntry) { e.Subject, e.Details = "", append([]byte(e.Subject), e.Details...) })},
		{"number spelling", with(func(e *store.AuditEntry) { e.Details = []byte(`{"run":7.0,"counts":{"add":1,"change":0}}`) })},
		{"escaped html the same", with(func(e *store.AuditEntry) { e.Details = []byte(`{"run":7,"counts":{"add":1,"change":0},"x":"<"}`) })},
		{"no details", with(func(e *store.AuditEntry) { e.Details = nil })},
		{"empty object", with(func(e *store.AuditEntry) { e.Details = []byte(`{}`) })},
		{"prev hash", with(func(e *store.AuditEntry) { e.PrevHash = strings.Repeat("b", 64) })},
	}
	seen := map[string]string{Hash(base): "base"}
	for _, tt := range different {
		h := Hash(tt.e)
		if other, ok := seen[h]; ok {
			t.Errorf("%s: same hash as %s", tt.name, other)
		}
		seen[h] = tt.name
	}
	// An escape and the character it stands for are the same JSON.
	a := with(func(e *store.AuditEntry) { e.Details = []byte(`{"x":"<&>é"}`) })
	b := with(func(e *store.AuditEntry) { e.Details = []byte(`{"x":"\u003c\u0026\u003e\u00e9"}`) })
	if Hash(a) != Hash(b) {
		t.Error("escaped and plain strings hash differently")
	}
	// Invalid JSON is hashed as it is, byte for byte.
	c := with(func(e *store.AuditEntry) { e.Details = []byte(`{"x":1`) })
	d := with(func(e *store.AuditEntry) { e.Details = []byte(`{"x": 1`) })
	if Hash(c) == Hash(d) {
		t.Error("invalid details canonicalised")
	}
}

func TestExport(t *testing.T) {
	fs := newLog(t, 2500)
	var buf bytes.Buffer
	since := t0.Add(1000 * time.Second) // entries 1000 to 2500
	if err := Export(context.Background(), fs, since, &buf); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		n++
		var x exportedEntry
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		got := store.AuditEntry{Seq: x.Seq, At: x.At, Actor: x.Actor, Action: x.Action, Subject: x.Subject,
			Details: x.Details, PrevHash: x.PrevHash, Hash: x.Hash}
		want := *at(fs.entries, int64(999+n))
		if !got.At.Equal(want.At) || got.Seq != want.Seq || got.Hash != want.Hash || !bytes.Equal(got.Details, want.Details) {
			t.Fatalf("line %d:\n %s\nwant entry %+v", n, sc.Bytes(), want)
		}
		// An exported entry verifies on its own.
		if Hash(got) != got.Hash {
			t.Fatalf("line %d does not hash to its hash", n)
		}
		if n == 1 && !bytes.Contains(sc.Bytes(), []byte(`{"seq":1000,"at":"2025-03-01T12:16:40Z","actor":"user0","action":"plan.apply","subject":"gitea:org/infra!1000/prod","details":{"counts":{"add":1,"change":1},"note":"\u003cok\u003e \u0026 done","run":1000},"prev_hash":"`)) {
			t.Errorf("line 1: %s", sc.Bytes())
		}
	}
	if n != 1501 {
		t.Errorf("exported %d entries, want 1501", n)
	}

	boom := errors.New("connection reset")
	if err := Export(context.Background(), &fakeStore{err: boom}, time.Time{}, &buf); !errors.Is(err, boom) {
		t.Errorf("Export with a failing store = %v", err)
	}
}
