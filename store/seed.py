"""A demo network across Japan, a catalog and stock, so a new user can place an order at once."""

from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert

from domain.tax import TaxClass
from store.inventory import InventoryRepository
from store.tables import location_group_members, location_groups, locations, products

DEMO_LOCATIONS = [
    ("DC-TOKYO", "Tokyo distribution centre", "distribution_center", 35.6285, 139.7774, ["ship", "same_day"], 5000),
    ("DC-OSAKA", "Osaka distribution centre", "distribution_center", 34.6525, 135.4300, ["ship", "same_day"], 4000),
    ("ST-SHIBUYA", "Shibuya store", "store", 35.6595, 139.7005, ["ship", "pickup", "same_day"], 300),
    ("ST-UMEDA", "Umeda store", "store", 34.7025, 135.4959, ["ship", "pickup"], 300),
    ("ST-SAPPORO", "Sapporo store", "store", 43.0687, 141.3508, ["ship", "pickup"], 200),
    (
        "DS-ATELIER",
        "Atelier Kyoto (drop-ship, engraving)",
        "dropship",
        35.0116,
        135.7681,
        ["ship", "personalization"],
        50,
    ),
]

# Location groups: which locations sell to which channel (id, name, channel, location kinds in it).
# Online channels see the whole network (DCs, drop-ship partners and stores shipping from the shelf);
# the store channel (a clerk selling in a shop) sees the stores.
_ONLINE = frozenset({"warehouse", "distribution_center", "dropship", "store"})
DEMO_GROUPS = [
    ("NET-WEB", "Web storefront network", "web", _ONLINE),
    ("NET-APP", "App network", "app", _ONLINE),
    ("NET-AGENT", "Customer service network", "agent", _ONLINE),
    ("NET-B2B", "B2B network", "b2b", _ONLINE),
    ("NET-STORE", "Stores", "store", frozenset({"store"})),
]

# The catalog of what the demo stocks: sku, name, yen price (tax included), tax class (food is "reduced").
DEMO_PRODUCTS: list[tuple[str, str, Decimal, TaxClass]] = [
    ("LEGO-76419", "Hogwarts Castle and Grounds", Decimal(24980), "standard"),
    ("MUG-ENGRAVED", "Engraved ceramic mug", Decimal(3200), "standard"),
    ("TEA-MATCHA-100", "Uji matcha 100 g", Decimal(2400), "reduced"),
    ("KNIFE-SANTOKU", "Santoku knife 165 mm", Decimal(18900), "standard"),
    ("TOWEL-IMABARI", "Imabari towel set", Decimal(5500), "standard"),
]

DEMO_STOCK = {
    "DC-TOKYO": {"LEGO-76419": 40, "TEA-MATCHA-100": 200, "KNIFE-SANTOKU": 25, "TOWEL-IMABARI": 80},
    "DC-OSAKA": {"LEGO-76419": 30, "TEA-MATCHA-100": 150, "KNIFE-SANTOKU": 30, "TOWEL-IMABARI": 60},
    "ST-SHIBUYA": {"LEGO-76419": 3, "TEA-MATCHA-100": 20, "TOWEL-IMABARI": 10},
    "ST-UMEDA": {"LEGO-76419": 2, "TEA-MATCHA-100": 15},
    "ST-SAPPORO": {"TEA-MATCHA-100": 10, "TOWEL-IMABARI": 5},
    "DS-ATELIER": {"MUG-ENGRAVED": 100},
}


def seed_demo(engine: Engine) -> None:
    """Insert the demo data where it is missing; never overwrites stock that has moved since.

    Runs at every start: locations, groups and memberships are inserted only when missing; products are inserted,
    or brought up to date unless an operator has set them since; stock only for a location/SKU without a level
    (recorded in the ledger as its initial receipt).
    """
    with engine.begin() as conn:
        for loc_id, name, kind, lat, lon, caps, capacity in DEMO_LOCATIONS:
            conn.execute(
                insert(locations)
                .values(
                    id=loc_id,
                    name=name,
                    kind=kind,
                    latitude=lat,
                    longitude=lon,
                    capabilities=caps,
                    daily_capacity=capacity,
                )
                .on_conflict_do_nothing()
            )
        for group_id, name, channel, kinds in DEMO_GROUPS:
            conn.execute(
                insert(location_groups).values(id=group_id, name=name, channel=channel).on_conflict_do_nothing()
            )
            for loc_id, _, kind, *_ in DEMO_LOCATIONS:
                if kind in kinds:
                    conn.execute(
                        insert(location_group_members)
                        .values(group_id=group_id, location_id=loc_id)
                        .on_conflict_do_nothing()
                    )
        for sku, name, price, tax_class in DEMO_PRODUCTS:
            demo = insert(products).values(sku=sku, name=name, prices={"JPY": str(price)}, tax_class=tax_class)
            # a product an operator has set (edited_at) is theirs; one the seed left is brought up to date
            conn.execute(
                demo.on_conflict_do_update(
                    index_elements=[products.c.sku],
                    set_={
                        "name": demo.excluded.name,
                        "prices": demo.excluded.prices,
                        "tax_class": demo.excluded.tax_class,
                    },
                    where=products.c.edited_at.is_(None),
                )
            )
    inventory = InventoryRepository(engine)
    for loc_id, stock in DEMO_STOCK.items():
        for sku, qty in stock.items():
            inventory.add_if_missing(loc_id, sku, qty)
