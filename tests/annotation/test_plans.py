"""annotation.plans.custom_plans: whole-study reads are planned for their own values on
PostgreSQL, and the session's setting is back afterwards, also after an error."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from annotation import exports
from annotation.plans import custom_plans

pytestmark = pytest.mark.django_db(transaction=True)
postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's plan_cache_mode"
)


def mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return cursor.fetchone()[0]


@postgresql
def test_the_block_plans_for_its_values_and_the_setting_comes_back():
    before = mode()
    assert before != "force_custom_plan"
    with custom_plans():
        assert mode() == "force_custom_plan"
    assert mode() == before


@postgresql
def test_a_failed_transaction_takes_the_setting_back_with_it():
    before = mode()
    with (
        pytest.raises(DatabaseError, match="division by zero"),
        transaction.atomic(),
        custom_plans(),
    ):
        assert mode() == "force_custom_plan"
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # aborts the transaction: nothing may run after
    assert mode() == before


@postgresql
def test_an_export_dropped_halfway_leaves_the_setting_as_it_was(pair_study):
    before = mode()
    chunks = exports.stream(pair_study, "csv")  # its header comes first
    next(chunks)
    assert mode() == "force_custom_plan"
    chunks.close()  # a client gone mid-download
    assert mode() == before


@pytest.mark.skipif(connection.vendor == "postgresql", reason="elsewhere than PostgreSQL")
def test_elsewhere_it_sends_nothing():
    with CaptureQueriesContext(connection) as captured, custom_plans(), connection.cursor() as c:
        c.execute("SELECT 1")
    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 1"]
