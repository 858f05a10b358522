-- Viber and WhatsApp left the SMS dispatcher for their own (issue #14): the ledger's
-- ``family`` column now names the dispatcher that owns a row, which is its channel.  Rows
-- still unsettled move to their new owner, whose sweeper would otherwise never see them;
-- settled rows are left as they are (nothing reads their owner again).
UPDATE dispatch_ledger SET family = channel
WHERE family <> channel AND state IN ('sending', 'parked');
