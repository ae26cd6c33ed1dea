package eventlog

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Ledger alarm codes central raises while projecting EventLedger events.
const (
	// AlarmLedgerInvalid: a ledger event the projection refuses (unknown
	// account, wrong currency, origin or kind, a credit from an appliance).
	AlarmLedgerInvalid = "ledger_invalid"
	// AlarmLedgerConflict: an entry id already held with other content;
	// the first entry is kept and the second is not counted.
	AlarmLedgerConflict = "ledger_conflict"
)

// storedLedgerCols are the columns of a stored ledger entry the projection
// compares a redelivered entry with (storedLedger); the ledger's reads are
// central/store/money's.
const storedLedgerCols = `account, kind, amount, currency, reason, receipt, ref, at_ns, origin, seq`

type storedLedger struct {
	account, kind, currency, reason, receipt, ref, origin string
	amount, at, seq                                       int64
}

// projectLedger stores an appliance's ledger entry (an EventLedger event)
// in ledger_entries, once: the same entry delivered again (under another
// seq too) is a no-op, and a different entry under an id already held
// raises AlarmLedgerConflict and is not counted. An entry is accepted only
// when it is a call debit (amount < 0), written by this appliance, in the
// prison's currency, for a person central knows (ledger.EntryFromWire
// checks the rest); anything else raises AlarmLedgerInvalid.
func (b *eventBatch) projectLedger(ev *wire.Event, w *wire.LedgerEntry) error {
	src := fmt.Sprintf("seq %d", ev.Seq)
	if b.currency == nil {
		c, err := b.s.cfg.Currency(b.ctx, b.tx)
		if err != nil {
			return err
		}
		b.currency = &c
	}
	e, err := ledger.EntryFromWire(*w, *b.currency)
	switch {
	case err != nil:
		return b.alarm(AlarmLedgerInvalid, src, ev.Seq, err.Error())
	case e.Origin != b.app:
		return b.alarm(AlarmLedgerInvalid, src, ev.Seq, fmt.Sprintf("entry %q names origin %q, not the appliance", e.ID, e.Origin))
	case e.Kind != ledger.CallDebit || e.Amount >= 0:
		return b.alarm(AlarmLedgerInvalid, src, ev.Seq, fmt.Sprintf("entry %q: an appliance may only write call debits (kind %s, amount %d)", e.ID, e.Kind, e.Amount))
	}
	res, err := b.st.insLedger.ExecContext(b.ctx, e.ID, e.Account, string(e.Kind), int64(e.Amount), w.Currency, e.Reason, e.Receipt, e.Ref,
		ns(e.At), e.Origin, b.app, int64(ev.Seq), b.now)
	if err != nil {
		return fmt.Errorf("store: project ledger entry %s: %w", e.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: project ledger entry %s: %w", e.ID, err)
	} else if n == 1 {
		return nil
	}
	var old storedLedger
	err = b.st.getLedger.QueryRowContext(b.ctx, e.ID).Scan(&old.account, &old.kind, &old.amount, &old.currency, &old.reason,
		&old.receipt, &old.ref, &old.at, &old.origin, &old.seq)
	if errors.Is(err, sql.ErrNoRows) {
		return b.alarm(AlarmLedgerInvalid, src, ev.Seq, fmt.Sprintf("entry %q: unknown account %q", e.ID, e.Account))
	}
	if err != nil {
		return fmt.Errorf("store: project ledger entry %s: %w", e.ID, err)
	}
	if old.account == e.Account && old.kind == string(e.Kind) && old.amount == int64(e.Amount) && old.currency == w.Currency &&
		old.reason == e.Reason && old.receipt == e.Receipt && old.ref == e.Ref && fromNS(old.at).Equal(e.At) && old.origin == e.Origin {
		return nil // delivered again: counted once
	}
	return b.alarm(AlarmLedgerConflict, src, ev.Seq, fmt.Sprintf("entry %q differs from the one stored from %s seq %d (amount %d, account %s); the first is kept",
		e.ID, old.origin, old.seq, old.amount, old.account))
}

// projectNumberBlocked records that a called party blocked further calls
// from a person: the person's contact for that number is marked
// self_blocked (the appliance already refuses it; central keeps it so in
// every later policy), the person's block policy is bumped and the change
// is audited under the appliance's name (selfBlockTx; ingest records the
// same report through SelfBlockReported as the batch arrives). A block of a
// number that is not one of the person's contacts changes nothing.
func (b *eventBatch) projectNumberBlocked(ev *wire.Event, nb *wire.NumberBlocked) error {
	_, _, err := b.s.cfg.SelfBlock(b.ctx, b.tx, "appliance:"+b.app, nb.PersonID, nb.Number,
		fmt.Sprintf("number=%s call=%s seq=%d", nb.Number, nb.CallID, ev.Seq))
	return err
}
