-- A fast change order sets licence totals ("Premium should be 6"), not differences: the
-- totals are kept with the order, and its lines are planned again from them, against the
-- PBX's licences at that moment, when the partner confirms (docs/processes.md "Process rules").
ALTER TABLE orders ADD COLUMN targets jsonb;
COMMENT ON COLUMN orders.targets IS
    'fast change: [{sku, licence_type, total, start_date}]; order_lines are what was applied';
