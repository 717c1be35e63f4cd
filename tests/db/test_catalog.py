"""The catalog on real PostgreSQL: the repository, the demo seed, and the migration that gave products their prices."""

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, select, text

from store.catalog import ProductCatalog, ProductDetails
from store.db import make_engine, sqlalchemy_url
from store.migrate import alembic_config
from store.seed import DEMO_PRODUCTS, DEMO_STOCK, seed_demo
from store.tables import products

pytestmark = pytest.mark.db


def new_sku() -> str:
    return f"CAT-{uuid.uuid4().hex[:8].upper()}"


def test_a_product_set_is_read_back_as_set(engine: Engine) -> None:
    # given a product set with a yen and a dinar price, reduced rate
    catalog, sku = ProductCatalog(engine), new_sku()
    catalog.put(sku, ProductDetails(name="Sencha 200 g", prices={"JPY": "3000", "KWD": "2.125"}, tax_class="reduced"))
    # when it is read
    found = catalog.get(sku)
    # then it is as set, to the last decimal, and marked as an operator's
    assert found is not None
    assert (found.name, found.prices, found.tax_class) == (
        "Sencha 200 g",
        {"JPY": Decimal(3000), "KWD": Decimal("2.125")},
        "reduced",
    )
    assert found.edited_at is not None


def test_setting_a_product_again_replaces_it(engine: Engine) -> None:
    # given a product priced in yen and dollars
    catalog, sku = ProductCatalog(engine), new_sku()
    catalog.put(sku, ProductDetails(name="Tin", prices={"JPY": "1500", "USD": "10.00"}))
    # when it is set again with a new yen price only, reduced rate
    answered = catalog.put(sku, ProductDetails(name="Tin, large", prices={"JPY": "1800"}, tax_class="reduced"))
    # then the answer and every later read show the new product, not a mix of both
    assert answered == catalog.get(sku)
    assert (answered.name, answered.prices, answered.tax_class) == ("Tin, large", {"JPY": Decimal(1800)}, "reduced")


def test_the_catalog_says_which_skus_it_does_not_know(engine: Engine) -> None:
    # given one product in the catalog
    catalog, known, missing = ProductCatalog(engine), new_sku(), new_sku()
    catalog.put(known, ProductDetails(name="Known", prices={"JPY": "100"}))
    # when it is asked about that sku and an unknown one, and for the unknown one alone
    # then only the unknown one is named, and reading it finds nothing
    assert catalog.unknown([missing, known]) == [missing]
    assert catalog.unknown([known]) == []
    assert catalog.get(missing) is None
    assert set(catalog.products([known, missing])) == {known}


def test_the_seed_prices_every_sku_it_stocks_in_yen_with_its_tax_class(engine: Engine) -> None:
    # when the demo is seeded
    seed_demo(engine)
    # then every sku the demo stocks has a name, a yen price and a tax class; the matcha is taxed at the reduced rate
    stocked = {sku for stock in DEMO_STOCK.values() for sku in stock}
    found = ProductCatalog(engine).products(stocked)
    assert set(found) == stocked
    for product in found.values():
        assert product.name and product.prices["JPY"] > 0 and product.tax_class in ("standard", "reduced")
    assert found["TEA-MATCHA-100"].tax_class == "reduced"
    assert found["LEGO-76419"].prices == {"JPY": Decimal(24980)}
    assert {sku for sku, p in found.items() if p.tax_class == "reduced"} == {"TEA-MATCHA-100"}


def test_the_seed_never_overwrites_a_product_an_operator_set(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a demo product of this test's own, seeded once, then repriced by an operator
    sku = new_sku()
    monkeypatch.setattr("store.seed.DEMO_PRODUCTS", [*DEMO_PRODUCTS, (sku, "Demo tin", Decimal(1000), "reduced")])
    seed_demo(engine)
    catalog = ProductCatalog(engine)
    catalog.put(sku, ProductDetails(name="Operator's tin", prices={"JPY": "1200", "USD": "8.00"}))
    # when the demo is seeded again, at the next start
    seed_demo(engine)
    # then the operator's product stands
    found = catalog.get(sku)
    assert found is not None
    assert (found.name, found.prices, found.tax_class) == (
        "Operator's tin",
        {"JPY": Decimal(1200), "USD": Decimal(8)},
        "standard",
    )


def test_the_seed_brings_its_own_products_up_to_date(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a demo product as an older seed left it: standard rate, another price, nobody has set it since
    sku = new_sku()
    with engine.begin() as conn:
        conn.execute(products.insert().values(sku=sku, name="Old tin", prices={"JPY": "900"}, tax_class="standard"))
    monkeypatch.setattr("store.seed.DEMO_PRODUCTS", [*DEMO_PRODUCTS, (sku, "Demo tin", Decimal(1000), "reduced")])
    # when the demo is seeded
    seed_demo(engine)
    # then the product is the seed's as it is now
    found = ProductCatalog(engine).get(sku)
    assert found is not None
    assert (found.name, found.prices, found.tax_class) == ("Demo tin", {"JPY": Decimal(1000)}, "reduced")
    assert found.edited_at is None


@pytest.fixture
def database_at_0007(engine: Engine) -> Iterator[str]:
    """A database of its own on the test server, migrated up to 0007 (one price and currency per product)."""
    name = f"oms_catalog_{uuid.uuid4().hex[:10]}"
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = engine.url.set(database=name).render_as_string(hide_password=False)
    try:
        command.upgrade(alembic_config(url), "0007")
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_migration_keeps_each_product_price_in_its_currency(database_at_0007: str) -> None:
    # given products priced before the catalog had per-currency prices: yen and dollars
    old = make_engine(database_at_0007, pool_size=1)
    with old.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO products (sku, name, unit_price, currency) VALUES "
                "('OLD-YEN', 'Yen tin', 24980, 'JPY'), ('OLD-USD', 'Dollar tin', 19.99, 'USD')"
            )
        )
    old.dispose()
    # when the database is migrated to the catalog prices
    command.upgrade(alembic_config(database_at_0007), "head")
    # then each product keeps its price in its currency, at the standard rate, as the seed's
    migrated = make_engine(database_at_0007, pool_size=1)
    try:
        found = ProductCatalog(migrated).products(["OLD-YEN", "OLD-USD"])
        assert {sku: p.prices for sku, p in found.items()} == {
            "OLD-YEN": {"JPY": Decimal(24980)},
            "OLD-USD": {"USD": Decimal("19.99")},
        }
        assert {p.tax_class for p in found.values()} == {"standard"}
        with migrated.connect() as conn:
            stored = {sku: prices for sku, prices in conn.execute(select(products.c.sku, products.c.prices))}
        assert stored == {"OLD-YEN": {"JPY": "24980"}, "OLD-USD": {"USD": "19.99"}}
    finally:
        migrated.dispose()
    # when it is migrated back, then the one price per product is there again
    command.downgrade(alembic_config(database_at_0007), "0007")
    back = create_engine(sqlalchemy_url(database_at_0007))
    try:
        with back.connect() as conn:
            rows = conn.execute(text("SELECT sku, unit_price, currency FROM products ORDER BY sku")).all()
        assert [tuple(r) for r in rows] == [("OLD-USD", Decimal("19.99"), "USD"), ("OLD-YEN", Decimal(24980), "JPY")]
    finally:
        back.dispose()
