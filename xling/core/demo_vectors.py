"""The vectors and projections that ship with the demo corpus: ``python -m xling.core.demo_vectors``.

Encodes the demo corpus's test split under the default map's encoders and writes the vectors
(:func:`xling.core.embedding_cache.write_shipped`, ``demo/vectors/``) and the default map's
projections (:func:`xling.core.projection.ship_default_map`), so that a fresh install's first
search and first map answer at once. Run it after re-harvesting the demo corpus or retraining.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xling.core.embedding_cache import (SHIPPED_INDEX, embed_collection, shipped_folder, weights_digest,
                                        write_shipped)

if TYPE_CHECKING:
    from xling.core.services import Services


def ship(encoder_names: list[str], services: Services, out: Path | None = None) -> list[dict]:
    """Encode the demo corpus's test split (the search tab's default collection) under each
    encoder of ``services`` and write the vectors (:func:`write_shipped`) and :data:`SHIPPED_INDEX`
    to ``out`` (``None``: ``demo/vectors`` of ``services.config.paths``). Returns the index entries."""
    from xling.data.texts import load_corpus_collection

    paths = services.config.paths
    out = out or shipped_folder(paths)
    collection = load_corpus_collection(paths.demo_corpus, split="test")
    entries = []
    for name in encoder_names:
        encoder = services.encoder(name)
        digest = weights_digest(encoder.name)
        if digest is None:
            raise SystemExit(f"{name}: only a local encoder folder can ship vectors (its weights key them)")
        vectors = embed_collection(encoder, collection, cache_dir=None)
        pool = ".mlm-pool" if encoder.name.startswith("mlm:") else ""
        file = f"{Path(encoder.name.removeprefix('mlm:')).name}{pool}.i8.npz"
        write_shipped(out / file, vectors)
        entries.append({"encoder": name, "file": file, "weights": digest, "fingerprint": collection.fingerprint,
                        "n": len(collection), "dim": int(vectors.shape[1]), "collection": "demo/corpus test split"})
    # Other encoders' entries stay; a file no entry names any more is removed.
    try:
        kept = [e for e in json.loads((out / SHIPPED_INDEX).read_text(encoding="utf-8"))
                if isinstance(e, dict) and e.get("encoder") not in encoder_names]
    except (OSError, ValueError):
        kept = []
    index = kept + entries
    (out / SHIPPED_INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    named = {e.get("file") for e in index}
    for stale in out.glob("*.np[yz]"):
        if stale.name not in named:
            stale.unlink()
    return entries


def main(argv: list[str] | None = None) -> int:
    """``python -m xling.core.demo_vectors [ENCODER ...]``: (re)write the shipped demo vectors
    (default: the default map's encoders, the default encoder and the default masked LM's raw pool)
    and the default map's projections. Run it after re-harvesting the demo corpus or retraining."""
    import argparse

    from xling.core import projection
    from xling.core.services import Services

    parser = argparse.ArgumentParser(prog="python -m xling.core.demo_vectors", description=main.__doc__)
    parser.add_argument("encoders", nargs="*", help="encoder names (default: the default map's)")
    args = parser.parse_args(argv)
    services = Services()  # the app's configuration: AppConfig.from_env()
    folder = shipped_folder(services.config.paths)
    for entry in ship(args.encoders or projection.default_map_encoders(services), services):
        print(f"{entry['encoder']}: {entry['n']} vectors x {entry['dim']} -> {folder / entry['file']}")
    for path in projection.ship_default_map(services, folder / projection.SHIPPED_PROJECTIONS):
        print(f"default map projection -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
