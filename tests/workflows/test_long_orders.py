"""Orders that live long or meet broken parts: an authorization that lapses is renewed before capture, a data
error is not retried without end, the read model being away never blocks the order, and a long history
continues as new carrying the order and every pending wait."""

from datetime import timedelta

from activities import contracts as act
from domain import events as ev
from store.inventory import UnknownLocation
from tests.workflows.conftest import (
    LEGO,
    LEGO_PRICE,
    Harness,
    deliver,
    final_order,
    lines,
    recorded,
    ship,
    ship_and_deliver,
    start,
    wait_until,
)
from tests.workflows.test_compensation import appeasement, retry
from tests.workflows.test_service_actions import delivered_and_captured, receive, request_return, units
from workflows.messages import (
    APPEASEMENT_UPDATE,
    CHECKOUT_UPDATE,
    WAREHOUSE_SIGNAL,
    AppeasementResult,
    CheckoutResult,
    WarehouseEvent,
)
from workflows.order import OrderWorkflow


async def test_an_authorization_about_to_lapse_is_renewed_before_the_capture(harness: Harness) -> None:
    # given an order authorized for seven days, as the gateway says, whose location ships on the seventh
    now = await harness.env.get_current_time()
    harness.partners.authorization_expires_at = now + timedelta(days=7)
    handle, answer = await start(harness, lines=lines(lego=1))
    (fo_id,) = answer.fulfillment_order_ids
    await harness.env.sleep(timedelta(days=6, hours=12))
    # when it ships
    await ship(handle, fo_id)
    order = await wait_until(handle, lambda o: o.payment.captured == LEGO_PRICE, "captured")
    # then the amount was authorized again, the old authorization voided, and the capture made on the new one
    authorizations = harness.partners.of("authorize", act.AuthorizeRequest)
    assert [a.idempotency_key.removeprefix(f"{handle.id}:authorize:") for a in authorizations] == ["1", "renew:auth_1"]
    [renewed] = recorded(harness, "AuthorizationRenewed")
    assert isinstance(renewed, ev.AuthorizationRenewed) and renewed.expiring_id == "auth_1"
    assert harness.partners.voided_from == {"auth_1": LEGO_PRICE}
    assert harness.partners.captured_from == {renewed.authorization_id: LEGO_PRICE}
    assert order.payment.authorization_id == renewed.authorization_id


async def test_an_order_shipped_well_within_its_authorization_is_not_renewed(harness: Harness) -> None:
    # given an order authorized for seven days that ships the next day
    now = await harness.env.get_current_time()
    harness.partners.authorization_expires_at = now + timedelta(days=7)
    handle, answer = await start(harness, lines=lines(lego=1))
    await harness.env.sleep(timedelta(days=1))
    # when it ships
    await ship(handle, answer.fulfillment_order_ids[0])
    await wait_until(handle, lambda o: o.payment.captured == LEGO_PRICE, "captured")
    # then one authorization was enough
    assert len(harness.partners.of("authorize", act.AuthorizeRequest)) == 1
    assert not recorded(harness, "AuthorizationRenewed")


async def test_a_data_error_in_a_step_is_not_retried_and_the_order_needs_a_person(harness: Harness) -> None:
    # given a settlement step that raises a plain ValueError (bad data, as a real adapter might)
    handle, answer = await start(harness, lines=lines(lego=1))
    harness.partners.broken["settle"] = ValueError("capture amount has too many digits")
    # when the parcel ships
    await ship(handle, answer.fulfillment_order_ids[0])
    # then the step ran once (a data error is not retried) and the order needs a person, saying why
    order = await wait_until(handle, lambda o: o.attention is not None, "attention")
    assert order.attention is not None and "too many digits" in order.attention.reason
    assert harness.partners.names().count("settle") == 1


async def test_the_read_model_away_for_long_never_blocks_the_order_and_gets_every_event(harness: Harness) -> None:
    # given a read model whose database is away for good from the start
    harness.partners.fail_step = "project"
    # when an order checks out
    handle, answer = await start(harness, lines=lines(lego=1))
    # then the storefront still hears at once, and the order goes on without it
    assert answer.status == "accepted"
    await ship_and_deliver(handle, answer.fulfillment_order_ids[0])
    await wait_until(handle, lambda o: o.status == "delivered", "delivered")
    assert harness.partners.batches == []
    # and once the database is back, the read model receives every event before the run ends
    harness.partners.fail_step = None
    outcome = await handle.result()
    assert outcome.status == "completed"
    assert final_order(harness).version == outcome.events
    assert [e.seq for b in harness.partners.batches for e in b.events] == list(range(1, outcome.events + 1))


async def test_a_long_history_continues_as_new_with_the_order_and_its_waits(harness: Harness) -> None:
    # given an order allowed a short history, split in two so it waits for two parcels
    harness.partners.stock = {"DC-TOKYO": {"LEGO-76419": 1}, "DC-OSAKA": {"TEA-MATCHA-100": 1}}
    handle, answer = await start(harness, lines=lines(lego=1, tea=1), workflow_options={"max_history_events": 40})
    first, second = answer.fulfillment_order_ids
    first_run = (await handle.describe()).run_id
    # when partners repeat themselves until the history is long (repeats change nothing)
    await ship_and_deliver(handle, first)
    for _ in range(30):
        await handle.signal(WAREHOUSE_SIGNAL, WarehouseEvent(fulfillment_order_id=first, event="picked"))
    await wait_until(handle, lambda o: o.fulfillment_order(first).status == "delivered", "first delivered")
    # then the order runs on in a new run, with what it knew and what it waited for
    latest = harness.client.get_workflow_handle_for(OrderWorkflow.run, handle.id)
    for _ in range(200):
        if (await latest.describe()).run_id != first_run:
            break
        await handle.signal(WAREHOUSE_SIGNAL, WarehouseEvent(fulfillment_order_id=first, event="picked"))
    assert (await latest.describe()).run_id != first_run
    order = await latest.query(OrderWorkflow.summary)
    assert order.fulfillment_order(first).status == "delivered" and order.payment.captured == LEGO_PRICE
    # and a checkout sent again to the new run is answered as the repeat it is
    again = await latest.execute_update(CHECKOUT_UPDATE, result_type=CheckoutResult)
    assert again.repeated and again.fulfillment_order_ids == answer.fulfillment_order_ids
    # and the second parcel, shipped to the new run, is captured and the order completes
    await ship(latest, second)
    await deliver(latest, second)
    await wait_until(latest, lambda o: o.status == "delivered", "delivered")
    await harness.env.sleep(timedelta(days=31))  # the server skips time for the first run's handle, not this one
    outcome = await latest.result()
    assert outcome.status == "completed"
    assert harness.partners.captured == LEGO_PRICE + 2400
    assert len(harness.partners.of("authorize", act.AuthorizeRequest)) == 1
    assert final_order(harness).version == outcome.events


async def test_an_operator_retry_after_a_data_error_is_fixed_runs_the_step_once(harness: Harness) -> None:
    # given an order whose settlement failed on bad data
    handle, answer = await start(harness, lines=lines(lego=1))
    harness.partners.broken["settle"] = ValueError("bad amount")
    await ship(handle, answer.fulfillment_order_ids[0])
    await wait_until(handle, lambda o: o.attention is not None, "attention")
    # when the data is mended and an operator retries
    del harness.partners.broken["settle"]
    result = await retry(handle)
    # then the capture is made once and the order needs nobody any more
    assert result.attention is None
    order = await wait_until(handle, lambda o: o.payment.captured == LEGO_PRICE, "captured")
    assert order.attention is None and len(harness.partners.captures) == 1


async def test_a_restock_at_an_unknown_store_is_not_retried_without_end(harness: Harness) -> None:
    # given a delivered order returned in store at a location the inventory does not know
    handle, answer = await start(harness, lines=lines(lego=1))
    await delivered_and_captured(handle, *answer.fulfillment_order_ids)
    returned = await request_return(handle, *units(lego=1), store="STORE-NOWHERE")
    harness.partners.broken["restock"] = UnknownLocation("STORE-NOWHERE")
    # when the unit arrives there
    await receive(handle, returned.return_id, (LEGO, 1, "resellable"))
    # then the restock ran once, the customer is refunded all the same, and the order needs a person
    order = await wait_until(handle, lambda o: o.attention is not None, "attention")
    assert order.attention is not None and "STORE-NOWHERE" in order.attention.reason
    assert harness.partners.names().count("restock") == 1
    assert (await wait_until(handle, lambda o: o.payment.refunded == LEGO_PRICE, "refunded")).returns[0].status == (
        "refunded"
    )


async def test_a_long_history_waiting_for_an_operator_waits_without_spinning_then_continues_as_new(
    harness: Harness,
) -> None:
    # given an order allowed a short history whose capture failed for good: it waits for an operator's retry
    handle, answer = await start(harness, lines=lines(lego=1), workflow_options={"max_history_events": 40})
    (fo_id,) = answer.fulfillment_order_ids
    first_run = (await handle.describe()).run_id
    harness.partners.broken["settle"] = ValueError("bad amount")
    await ship(handle, fo_id)
    await wait_until(handle, lambda o: o.attention is not None, "attention")
    # when partners repeat themselves until the history is long (the run may not hand over while it waits)
    for _ in range(30):
        await handle.signal(WAREHOUSE_SIGNAL, WarehouseEvent(fulfillment_order_id=fo_id, event="picked"))
    await wait_until(handle, lambda o: o.attention is not None, "still waiting")
    # then it still answers, and once the cause is fixed the retry captures and the run continues as new
    del harness.partners.broken["settle"]
    assert (await retry(handle)).attention is None
    latest = harness.client.get_workflow_handle_for(OrderWorkflow.run, handle.id)
    for _ in range(200):
        if (await latest.describe()).run_id != first_run:
            break
        await harness.env.sleep(timedelta(seconds=1))
    assert (await latest.describe()).run_id != first_run
    await deliver(latest, fo_id)
    await harness.env.sleep(timedelta(days=31))
    assert (await latest.result()).status == "completed"
    assert harness.partners.captured == LEGO_PRICE and len(harness.partners.captures) == 1


async def test_a_goodwill_refund_is_answered_while_another_capture_waits_for_an_operator(harness: Harness) -> None:
    # given a split order: one part delivered and captured, the other's capture failed for good
    harness.partners.stock = {"DC-TOKYO": {"LEGO-76419": 1}, "DC-OSAKA": {"TEA-MATCHA-100": 1}}
    handle, answer = await start(harness, lines=lines(lego=1, tea=1))
    first, second = answer.fulfillment_order_ids
    await ship_and_deliver(handle, first)
    await wait_until(handle, lambda o: o.payment.captured == LEGO_PRICE, "the first capture")
    harness.partners.broken["settle"] = ValueError("bad amount")
    await ship(handle, second)
    await wait_until(handle, lambda o: o.attention is not None, "attention")
    # when an agent grants a goodwill refund on what was captured
    result = await handle.execute_update(
        APPEASEMENT_UPDATE, appeasement(500), result_type=AppeasementResult, rpc_timeout=timedelta(seconds=10)
    )
    # then it is refunded at once, without waiting for the operator
    assert result.refunded == 500 and harness.partners.refunded == 500
