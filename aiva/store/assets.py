"""The asset inventory in PostgreSQL: upsert from an inventory file, read back for attack paths."""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from aiva.attack_paths import AssetFinding, Inventory, InventoryAsset, InventoryEdge


async def upsert_inventory(conn: asyncpg.Connection, product: str, inv: Inventory) -> dict[str, int]:
    """Create or update the product's assets and replace its edges (one transaction)."""
    async with conn.transaction():
        product_id: int = await conn.fetchval(
            "INSERT INTO products(name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name"
            " RETURNING id", product)
        rows = [(product_id, a.name, a.type.value, a.criticality.value, a.internet_facing, a.crown_jewel,
                 a.description) for a in inv.assets]
        await conn.executemany(
            """
            INSERT INTO assets(product_id, name, asset_type, criticality, internet_facing, crown_jewel, description)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (product_id, name) DO UPDATE SET asset_type = EXCLUDED.asset_type,
                criticality = EXCLUDED.criticality, internet_facing = EXCLUDED.internet_facing,
                crown_jewel = EXCLUDED.crown_jewel, description = EXCLUDED.description
            """,
            rows,
        )
        ids = {r["name"]: r["id"] for r in await conn.fetch(
            "SELECT id, name FROM assets WHERE product_id = $1", product_id)}
        await conn.execute("DELETE FROM asset_edges WHERE product_id = $1", product_id)
        await conn.executemany(
            "INSERT INTO asset_edges(product_id, from_asset, to_asset, kind, note) VALUES ($1,$2,$3,$4,$5)"
            " ON CONFLICT DO NOTHING",
            [(product_id, ids[e.source], ids[e.target], e.kind.value, e.note) for e in inv.edges],
        )
    return {"assets": len(rows), "edges": len(inv.edges)}


async def stored_inventory(conn: asyncpg.Connection, product_id: int) -> Inventory | None:
    """The product's inventory as loaded (None when it has no edges, i.e. no inventory was loaded)."""
    edges = await conn.fetch(
        "SELECT fa.name AS source, ta.name AS target, e.kind, e.note FROM asset_edges e"
        " JOIN assets fa ON fa.id = e.from_asset JOIN assets ta ON ta.id = e.to_asset WHERE e.product_id = $1",
        product_id)
    if not edges:
        return None
    assets = await conn.fetch(
        "SELECT name, asset_type, criticality, internet_facing, crown_jewel, description FROM assets"
        " WHERE product_id = $1 ORDER BY name", product_id)
    return Inventory(
        assets=tuple(InventoryAsset(name=a["name"], type=a["asset_type"], criticality=a["criticality"],
                                    internet_facing=a["internet_facing"], crown_jewel=a["crown_jewel"],
                                    description=a["description"]) for a in assets),
        edges=tuple(InventoryEdge.model_validate({"from": e["source"], "to": e["target"], "kind": e["kind"],
                                                  "note": e["note"]}) for e in edges),
    )


async def open_findings_by_asset(conn: asyncpg.Connection, product_id: int) -> dict[str, list[AssetFinding]]:
    """Every open finding of the product, grouped by asset name, as attack-path scoring needs them."""
    rows = await conn.fetch(
        """
        SELECT a.name AS asset, f.fingerprint, f.title, f.risk_score, COALESCE(f.in_kev, false) AS in_kev, f.epss
          FROM findings f JOIN assets a ON a.id = f.asset_id
         WHERE f.product_id = $1 AND f.status IN ('new', 'active', 'reopened')
        """,
        product_id)
    out: dict[str, list[AssetFinding]] = defaultdict(list)
    for r in rows:
        out[r["asset"]].append(AssetFinding(r["fingerprint"], r["title"], float(r["risk_score"]), r["in_kev"],
                                            r["epss"]))
    return dict(out)
