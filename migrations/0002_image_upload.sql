-- Image data uploads (PUT /v2/images/{id}/file). An image in `saving` belongs to exactly one
-- upload: the id that upload drew when it moved the image out of `queued`. Only that upload may
-- finish the image (`active`) or hand it back (`queued`), so a slow or failed upload never
-- changes an image another upload holds, and a PATCH during an upload does not disturb it.
ALTER TABLE images ADD COLUMN upload_id TEXT;
