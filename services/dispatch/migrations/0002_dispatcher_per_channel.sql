-- Viber and WhatsApp left the SMS dispatcher for their own (issue #14): the ledger's
-- ``family`` column now names the dispatcher that owns a row, which is its channel.  Rows
-- still unsettled move to their new owner, whose sweeper would otherwise never see them;
-- settled rows are left as they are (nothing reads their owner again).
UPDATE dispatch_ledger SET family = channel
WHERE family <> channel AND state IN ('sending', 'parked');

-- Failover (issue #14): a message whose provider may have taken it (an attempt that stopped
-- mid-call) stays with that provider; a resend elsewhere would be a second message.
ALTER TABLE dispatch_ledger ADD COLUMN pinned boolean NOT NULL DEFAULT false;

-- A claimed row whose provider call never began (it waited on a rate or concurrency limit
-- when its dispatcher died) is not an unknown outcome.  True by default: a row written by
-- an older dispatcher, or rebuilt from the event log, counts as called (the careful side).
ALTER TABLE dispatch_ledger ADD COLUMN called boolean NOT NULL DEFAULT true;
