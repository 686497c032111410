-- CLASSOUND activations stored their ported DIDs without the CLASSOUND-FLAT they
-- belong to (dids.flat_id empty), so a licence reduction cancelled the flat and listed no
-- DID for customer care. Link them as activations now do (domain/classound.py,
-- numbers_per_flat): in the order of the number list, in runs as even as possible (ntile),
-- the first run to the first flat booked; over the order's own flats, else (Classound
-- ordering without new flats) over the PBX's active flats. Only unlinked DIDs still on the
-- order's PBX change; running it again changes nothing.
-- DIDs now linked to a flat that is already cancelled are live numbers a past reduction
-- should have sent to customer care:
--   SELECT d.pbx_id, d.number FROM dids d JOIN pbx_products f ON f.id = d.flat_id
--    WHERE f.status = 'cancelled' AND d.status = 'active';
WITH activated AS (
    SELECT process_id, pbx_id FROM classound_orders WHERE status = 'active'
), own AS (
    SELECT o.process_id, f.id,
           row_number() OVER (PARTITION BY o.process_id ORDER BY f.id) AS k
      FROM activated o
      JOIN pbx_products f ON f.order_id = o.process_id AND f.pbx_id = o.pbx_id
      JOIN catalogue c ON c.sku = f.sku AND c.kind = 'classound_flat'
), pbx_flats AS (
    SELECT o.process_id, f.id,
           row_number() OVER (PARTITION BY o.process_id ORDER BY f.start_date, f.id) AS k
      FROM activated o
      JOIN pbx_products f ON f.pbx_id = o.pbx_id AND f.status = 'active'
      JOIN catalogue c ON c.sku = f.sku AND c.kind = 'classound_flat'
     WHERE NOT EXISTS (SELECT 1 FROM own WHERE own.process_id = o.process_id)
), flats AS (
    SELECT * FROM own UNION ALL SELECT * FROM pbx_flats
), flat_counts AS (
    SELECT process_id, count(*)::int AS n FROM flats GROUP BY process_id
), numbered AS (
    SELECT n.process_id, n.number,
           ntile(fc.n) OVER (PARTITION BY n.process_id ORDER BY n.position) AS k
      FROM classound_numbers n JOIN flat_counts fc ON fc.process_id = n.process_id
)
UPDATE dids d SET flat_id = f.id
  FROM numbered x
  JOIN flats f ON f.process_id = x.process_id AND f.k = x.k
  JOIN activated o ON o.process_id = x.process_id
 WHERE d.flat_id IS NULL AND d.pbx_id = o.pbx_id
   AND regexp_replace(d.number, '[^0-9+]', '', 'g') = x.number;
