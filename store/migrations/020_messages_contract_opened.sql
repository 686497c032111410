-- When the customer first opened the signing link: the evidence certificate's trail (sent,
-- opened, signed or declined). Written by the signing page once, on the first open.
ALTER TABLE contracts ADD COLUMN opened_at timestamptz;

-- Staff (channel managers among them) are addressed as people of the directory, at their
-- own address there; `role` stays for true teams.
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_recipient_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_recipient_kind_check
    CHECK (recipient_kind IN ('partner', 'account', 'contact', 'role', 'staff'));
