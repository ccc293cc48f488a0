package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Kind is how an entry breaks the chain.
type Kind string

const (
	// Edited: the entry's content does not match its stored hash.
	Edited Kind = "edited"
	// Deleted: entries are missing from the numbering.
	Deleted Kind = "deleted"
	// Reordered: the entry is chained after another entry of the log than
	// the one before it.
	Reordered Kind = "reordered"
	// Inserted: the entry does not belong in the chain where it is.
	Inserted Kind = "inserted"
)

// Problem names the first entry where the chain breaks.
type Problem struct {
	// Seq is the entry (for Deleted, the first missing one).
	Seq    int64  `json:"seq"`
	Kind   Kind   `json:"kind"`
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	return fmt.Sprintf("entry %d %s: %s", p.Seq, p.Kind, p.Detail)
}

// Report is the outcome of Verify.
type Report struct {
	// Entries is how many entries the log holds.
	Entries int `json:"entries"`
	// LastSeq and LastHash are the newest entry's. The chain alone cannot
	// show that entries were removed from its end, so keep these outside
	// the database: a later log must still hold this entry with this hash.
	LastSeq  int64  `json:"last_seq"`
	LastHash string `json:"last_hash"`
	// FirstBroken is the first entry where the chain breaks; nil when the
	// whole log verifies.
	FirstBroken *Problem `json:"first_broken,omitempty"`
}

// OK reports whether the whole log verified.
func (r Report) OK() bool { return r.FirstBroken == nil }

const defaultPageSize = 1000

// Verify reads the whole log from src in Seq order, pageSize entries at a
// time (≤ 0: 1000), recomputing every entry's hash and checking that Seq
// counts up from 1 without gaps and that each PrevHash is the hash of the
// entry before (the first entry's is ""). It reports the first broken entry;
// an error is returned only when the log cannot be read.
//
// Each entry is checked in this order; the first failing check names it:
//
//   - its Seq is past the next number: the entries in between were deleted;
//   - its Seq repeats or goes back: it was inserted (possible only where Seq
//     is not unique, and seen only within a page);
//   - its hash does not match its content: it was edited (any field, its
//     PrevHash or its stored hash);
//   - its hash is valid but its PrevHash is not the previous entry's hash:
//     whoever changed it also recomputed its hash, so it was moved or made
//     up.
//
// In that last case the PrevHash is a clue to what happened, and this is
// the heuristic: if it is the hash of the entry two back, the entry just
// before sits between two entries that were adjacent, so that one was
// inserted; if it is the hash of another entry of the log, this entry was
// chained after that one, so entries were reordered; if it is no entry's
// hash, this entry's predecessor is gone, so it was inserted (or rewritten),
// or the entries before it were deleted and the rest renumbered and
// rehashed, which the chain cannot tell apart. Two adjacent entries swapped
// and rehashed fall in this last case too. The Problem's Detail says what
// was seen.
//
// Finding what a PrevHash points at takes a second pass over the log, made
// only when such a break is found.
func Verify(ctx context.Context, src Source, pageSize int) (Report, error) {
	if pageSize <= 0 {
		pageSize = defaultPageSize
	}
	var (
		rep Report
		// prevHash2 is the hash of the entry before the previous one.
		prevHash2 string
		// link is the first entry with a valid hash chained to the wrong
		// predecessor, classified once the walk is done.
		link *chainBreak
	)
	err := walk(ctx, src, time.Time{}, pageSize, func(e store.AuditEntry) error {
		if rep.FirstBroken == nil && link == nil {
			switch want := rep.LastSeq + 1; {
			case e.Seq > want:
				rep.FirstBroken = &Problem{Seq: want, Kind: Deleted, Detail: gapDetail(rep.LastSeq, e.Seq)}
			case e.Seq < want:
				rep.FirstBroken = &Problem{Seq: e.Seq, Kind: Inserted,
					Detail: fmt.Sprintf("entry %d comes after entry %d: a second entry with the same or a lower number", e.Seq, rep.LastSeq)}
			case Hash(e) != e.Hash:
				rep.FirstBroken = &Problem{Seq: e.Seq, Kind: Edited,
					Detail: fmt.Sprintf("its content does not match its stored hash %s (recomputed %s)", shortHash(e.Hash), shortHash(Hash(e)))}
			case e.PrevHash != rep.LastHash:
				link = &chainBreak{seq: e.Seq, prevHash: e.PrevHash, wantPrev: rep.LastHash, twoBack: prevHash2}
			}
		}
		rep.Entries++
		prevHash2 = rep.LastHash
		rep.LastSeq, rep.LastHash = e.Seq, e.Hash
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("verifying audit log: %w", err)
	}
	if link != nil {
		p, err := link.classify(ctx, src, pageSize)
		if err != nil {
			return Report{}, fmt.Errorf("verifying audit log: %w", err)
		}
		rep.FirstBroken = &p
	}
	return rep, nil
}

// chainBreak is an entry with a valid hash whose PrevHash is not the hash
// of the entry before it.
type chainBreak struct {
	seq      int64
	prevHash string // the entry's PrevHash
	wantPrev string // the previous entry's hash ("" for the first entry)
	twoBack  string // the hash of the entry two back ("" if none)
}

func (b *chainBreak) classify(ctx context.Context, src Source, pageSize int) (Problem, error) {
	if b.twoBack != "" && b.prevHash == b.twoBack {
		return Problem{Seq: b.seq - 1, Kind: Inserted,
			Detail: fmt.Sprintf("entry %d is chained directly to entry %d, so entry %d between them does not belong", b.seq, b.seq-2, b.seq-1)}, nil
	}
	var (
		target int64
		found  bool
	)
	err := walk(ctx, src, time.Time{}, pageSize, func(e store.AuditEntry) error {
		if !found && e.Hash == b.prevHash && e.Seq != b.seq {
			target, found = e.Seq, true
		}
		return nil
	})
	if err != nil {
		return Problem{}, err
	}
	expected := fmt.Sprintf("entry %d", b.seq-1)
	if b.wantPrev == "" {
		expected = "the start of the log"
	}
	if found {
		return Problem{Seq: b.seq, Kind: Reordered,
			Detail: fmt.Sprintf("it is chained after entry %d, not after %s: entries were moved", target, expected)}, nil
	}
	return Problem{Seq: b.seq, Kind: Inserted,
		Detail: fmt.Sprintf("it is chained to an entry that is not in the log (prev_hash %s), not to %s: "+
			"it was inserted or rewritten, or the entries before it were deleted and the rest renumbered", shortHash(b.prevHash), expected)}, nil
}

func gapDetail(last, next int64) string {
	missing := fmt.Sprintf("entry %d is missing", last+1)
	if next-last > 2 {
		missing = fmt.Sprintf("entries %d to %d are missing", last+1, next-1)
	}
	if last == 0 {
		return fmt.Sprintf("%s: the log starts at entry %d", missing, next)
	}
	return fmt.Sprintf("%s: entry %d is followed by entry %d", missing, last, next)
}

// shortHash abbreviates an entry's hash for messages: a SHA-256 of the
// entry, not a commit (gitx.Short), so longer, marked as cut, and "" (the
// chain's start) shown as such.
func shortHash(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// walk calls fn for every entry with At >= since (the zero time: all) in
// Seq order, reading pageSize entries at a time, until fn returns an error.
func walk(ctx context.Context, src Source, since time.Time, pageSize int, fn func(store.AuditEntry) error) error {
	var after int64
	for {
		page, err := src.AuditEntries(ctx, after, since, pageSize)
		if err != nil {
			return fmt.Errorf("reading entries after %d: %w", after, err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		next := page[len(page)-1].Seq
		if next <= after {
			return fmt.Errorf("reading entries after %d: %w", after, errNoProgress)
		}
		after = next
	}
}
