"""No two active lessons of one coach, or of one player, overlap; no two scheduled group
sessions share a court at once. PostgreSQL exclusion constraints over time ranges (btree_gist).

They live in a migration rather than in Meta.constraints because SQLite has no equivalent; on
SQLite the booking service's write-locked transaction is the guard.
"""

from django.db import migrations

CONSTRAINTS = [
    (
        "bookings_individualbooking",
        "booking_no_coach_overlap",
        "EXCLUDE USING gist (coach_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (status = 'booked')",
    ),
    (
        "bookings_individualbooking",
        "booking_no_player_overlap",
        "EXCLUDE USING gist (player_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (status = 'booked')",
    ),
    (
        "scheduling_groupsession",
        "group_session_no_court_overlap",
        "EXCLUDE USING gist (court_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (status = 'scheduled' AND court_id IS NOT NULL)",
    ),
]


def add_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    for table, name, definition in CONSTRAINTS:
        schema_editor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def drop_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, _ in CONSTRAINTS:
        schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0001_initial"),
        ("scheduling", "0001_initial"),
    ]

    operations = [migrations.RunPython(add_constraints, drop_constraints)]
