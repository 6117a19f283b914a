"""Licence linking: which installed software each licence covers, through the normalisation table.

Runs after every ingest that writes licences or installed software (the table, or the installs, may
have changed). Each Software node gets `product_key` (the normalised product it belongs to),
`product` and `licensable` from the table; each licence its `product_key`; and COVERS is rebuilt as
licence -> every Software node with that product key (an index seek), or with the licence's purl.
Nothing is matched by prefix: a licence for product `l` covers only software normalised to `l`.
"""
from __future__ import annotations

from datetime import datetime

from neo4j import Transaction

from graph.store import write_batches
from ingest.software_table import SoftwareTable, normalise, versionless_purl
from ingest.catalog import write

SOFTWARE = write(
    'read-all-software',
    'Read: every software product, to stamp it with its product from the table.',
    """
MATCH (s:Software)
RETURN s.key AS key, s.name AS name, s.vendor AS vendor,
       s.product_key AS product_key, s.product AS product, s.licensable AS licensable
""", scans='a pass over every product: the table may have changed')
SET_SOFTWARE_PRODUCT = write(
    'set-software-product',
    "Each product's normalised product key, name and whether it is licensable.",
    """
UNWIND $rows AS row
MATCH (s:Software {key: row.key}) USING INDEX SEEK s:Software(key)
SET s.product_key = row.product_key, s.product = row.product, s.licensable = row.licensable
""")
LICENCES = write('read-all-licenses', "Read: every licence's product, to relink it.",
    "MATCH (l:License) RETURN l.id AS id, l.product AS product", scans='a pass over every licence: the table may have changed')
# A licence with nothing to cover yet covers a placeholder product, so it is never left dangling.
RELINK_LICENCES = write(
    'relink-licenses',
    'A licence COVERS the products the table matches (by product key or purl), else a placeholder product.',
    """
UNWIND $rows AS row
MATCH (l:License {id: row.id}) USING INDEX SEEK l:License(id)
SET l.product_key = row.product_key, l.product_name = row.product
WITH l, row
CALL (l) {
  MATCH (l)-[old:COVERS]->(:Software) DELETE old
}
CALL (l, row) {
  OPTIONAL MATCH (s:Software {product_key: row.product_key})
  OPTIONAL MATCH (p:Software {key: row.purl}) USING INDEX SEEK p:Software(key)
  WITH [x IN collect(DISTINCT s) + collect(DISTINCT p) WHERE x IS NOT NULL] AS found
  FOREACH (x IN found | MERGE (l)-[:COVERS]->(x))
  RETURN size(found) AS covered
}
WITH l, row, covered WHERE covered = 0
MERGE (p:Software {key: '/' + toLower(row.licence_product)})
ON CREATE SET p.name = row.licence_product, p.first_seen = row.at
SET p.product_key = row.product_key, p.product = row.product
MERGE (l)-[:COVERS]->(p)
""")


def _software_rows(tx: Transaction, table: SoftwareTable) -> list[dict]:
    changed = []
    for row in tx.run(SOFTWARE):
        entry = table.for_install(row["key"], row["name"], row["vendor"])
        wanted = {"key": row["key"],
                  "product_key": entry.key if entry else normalise(row["name"] or row["key"]),
                  "product": entry.name if entry else row["name"],
                  "licensable": bool(entry and entry.licensable)}
        if any(row[k] != wanted[k] for k in ("product_key", "product", "licensable")):
            changed.append(wanted)
    return changed


def _licence_rows(tx: Transaction, table: SoftwareTable, now: datetime) -> list[dict]:
    rows = []
    for row in tx.run(LICENCES):
        product = (row["product"] or "").strip()
        entry = table.for_licence(product)
        purl = versionless_purl(product) if product.lower().startswith("pkg:") else None
        rows.append({"id": row["id"], "licence_product": product, "purl": purl, "at": now,
                     "product_key": entry.key if entry else normalise(product) or product.lower(),
                     "product": entry.name if entry else product})
    return rows


def relink_licences(tx: Transaction, table: SoftwareTable, now: datetime) -> None:
    """Stamp every Software node with its product and rebuild licence COVERS from the table."""
    write_batches(tx, SET_SOFTWARE_PRODUCT, _software_rows(tx, table))
    write_batches(tx, RELINK_LICENCES, _licence_rows(tx, table, now))
