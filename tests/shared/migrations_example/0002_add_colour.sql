ALTER TABLE things ADD COLUMN colour text;
