"""PostgreSQL versions of the migration steps whose SQLite text cannot simply be translated.

Most of storage/migrations.py runs on PostgreSQL after storage/pg_dialect.translate_ddl (types
only). Triggers and the full-text index are the exception: SQLite's trigger bodies and FTS5 have
no textual PostgreSQL equivalent, so such a step is written here again, by number, doing the same
thing the PostgreSQL way. Keep each one in step with its SQLite original: same tables, columns,
indexes and behaviour, so storage/*.py sees one schema.
"""
from __future__ import annotations

from . import migrations
from .pg_dialect import translate_ddl

# Step 6 (files, search). The attachments and freed_blobs tables are the SQLite step's own text
# (migrations.FILES_TABLES), translated; the two triggers become plpgsql trigger functions. The
# search index is a table of tsvectors (GIN-indexed) keyed by message id, kept by triggers on
# messages, so every write path updates it in its own transaction exactly as the FTS5 triggers do.
# Tokens follow FTS5's unicode61: runs of letters and digits, lower-cased and accent-folded
# (parley_fold: the unaccent extension when the database lets us create it, else a built-in table
# of Latin accents), so both engines find the same messages.
_STEP_6_TRIGGERS_AND_SEARCH = r"""
CREATE FUNCTION parley_attachments_freed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO freed_blobs (sha256) VALUES (OLD.sha256) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER attachments_freed AFTER DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION parley_attachments_freed();
CREATE FUNCTION parley_messages_deleted_unshare() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM attachments WHERE message_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_deleted_unshare AFTER UPDATE OF verb ON messages
    FOR EACH ROW WHEN (NEW.verb = 'comment_deleted') EXECUTE FUNCTION parley_messages_deleted_unshare();

DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS unaccent;
    EXCEPTION WHEN OTHERS THEN
        NULL;   -- not installed or not allowed: the fallback below folds the common accents
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'unaccent') THEN
        CREATE FUNCTION parley_fold(t text) RETURNS text LANGUAGE sql STABLE AS
            'SELECT lower(unaccent(t))';
    ELSE
        CREATE FUNCTION parley_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE AS
            $f$SELECT translate(lower(t),
                'àáâãäåāăąçćčďèéêëēĕėęěìíîïĩīĭįñńňòóôõöøōŏőŕřśšşťţùúûüũūŭůűųýÿžźż',
                'aaaaaaaaaccc' || 'deeeeeeeeeiiiiiiiinnnooooooooorrsssttuuuuuuuuuuyyzzz')$f$;
    END IF;
END $$;

-- The indexed text of a comment: its body and the names of the files it shares (the file
-- parameters of a message are a JSON object of {"type": "file", "name": ...} values).
CREATE FUNCTION parley_search_doc(body text, parameters text) RETURNS tsvector LANGUAGE plpgsql STABLE AS $$
DECLARE
    names text;
    p jsonb;
BEGIN
    IF parameters LIKE '%"file"%' THEN
        BEGIN
            p := parameters::jsonb;
            SELECT string_agg(e->>'name', ' ') INTO names FROM (
                SELECT value AS e FROM jsonb_each(CASE WHEN jsonb_typeof(p) = 'object' THEN p ELSE '{}' END)
                UNION ALL
                SELECT value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p) = 'array' THEN p ELSE '[]' END)
            ) x WHERE jsonb_typeof(e) = 'object' AND e->>'type' = 'file';
        EXCEPTION WHEN OTHERS THEN
            names := NULL;   -- not JSON: no file names, as on SQLite
        END;
    END IF;
    RETURN to_tsvector('simple', regexp_replace(parley_fold(coalesce(body, '') || ' ' || coalesce(names, '')),
                                                '[[:punct:][:space:]]+', ' ', 'g'));
END $$;

CREATE TABLE message_search (
    id  BIGINT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    doc tsvector NOT NULL
);
CREATE INDEX message_search_doc ON message_search USING GIN (doc);
CREATE FUNCTION parley_messages_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM message_search WHERE id = OLD.id;
    END IF;
    IF NEW.verb = 'comment' THEN
        INSERT INTO message_search (id, doc) VALUES (NEW.id, parley_search_doc(NEW.message, NEW.parameters));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION parley_messages_search();
CREATE TRIGGER messages_search_update AFTER UPDATE OF message, parameters, verb ON messages
    FOR EACH ROW EXECUTE FUNCTION parley_messages_search();
-- Deleting a message drops its entry by the foreign key's cascade.
INSERT INTO message_search (id, doc)
    SELECT id, parley_search_doc(message, NULL) FROM messages WHERE verb = 'comment';
"""

STEPS: dict[int, str] = {6: translate_ddl(migrations.FILES_TABLES) + _STEP_6_TRIGGERS_AND_SEARCH}


def script(number: int, sqlite_script: str) -> str | None:
    """The PostgreSQL text of step `number`, or None when the translated SQLite text serves."""
    return STEPS.get(number)
