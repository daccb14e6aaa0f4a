"""A reader for DGL's ``save_graphs`` binary files (format version 2, heterographs) without DGL.

DGL does not install beside our torch, and MAGB ships its graphs in this format. The layout below was
worked out from DGL's serialisation code (``src/graph/serialize/heterograph_serialize.cc``,
``heterograph.cc``, ``unit_graph.cc``, ``immutable_graph.cc``, ``aten/{coo,csr}.h``,
``runtime/ndarray.h``) and checked against the MAGB files; every integer is little-endian, a
``vector``/``string`` is a uint64 length followed by its items, a ``bool`` is one byte:

    header (4096 bytes): u64 magic 0xDD2E4FF046B4A13F, u64 version = 2, u64 graph type, u64 #graphs
    u64 start of the graph data, vector<(string, NDArray)> graph labels
    per graph (HeteroGraphData):
        HeteroGraph: u64 magic 0xDD589FBE35224ABF, ImmutableGraph meta graph,
                     vector<UnitGraph> relation graphs, [vector<i64> nodes per type (newer DGL)]
        vector<vector<(string, NDArray)>> node data per node type, the same for edge data,
        vector<string> node type names, vector<string> edge type names
    string holding vector<u64> graph offsets, u64 size of that string
    ImmutableGraph: u64 magic 0xDD3C5FFE20046ABF, CSRMatrix
    UnitGraph: u64 magic 0xDD2E60F0F6B4A127, i64 saved formats, i64 allowed formats, then per saved
               format (COO, CSR, CSC in this order): ImmutableGraph meta graph + COOMatrix / CSRMatrix
    COOMatrix: u64 magic 0xDD61FFD305DFF127, i64 #cols, i64 #rows, NDArray row, col, data, bool, bool
    CSRMatrix: u64 magic 0xDD6CD31205DFF127, i64 #cols, i64 #rows, NDArray indptr, indices, data, bool
    NDArray: u64 magic 0xDD5E40F096B4A13F, u64 reserved, i32 device type, i32 device id, i32 ndim,
             u8 type code, u8 bits, u16 lanes, i64 shape[ndim], i64 #bytes, the bytes

Saved formats: with the high bit 0x100000000 set the low bits are a mask (1 COO, 2 CSR, 4 CSC);
without it (older DGL) the value is one format (1 COO, 2 CSR, 3 CSC).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmgc.errors import InputError

FILE_MAGIC = 0xDD2E4FF046B4A13F
HETEROGRAPH_MAGIC = 0xDD589FBE35224ABF
IMMUTABLE_MAGIC = 0xDD3C5FFE20046ABF
UNITGRAPH_MAGIC = 0xDD2E60F0F6B4A127
COO_MAGIC = 0xDD61FFD305DFF127
CSR_MAGIC = 0xDD6CD31205DFF127
NDARRAY_MAGIC = 0xDD5E40F096B4A13F

_TYPE_CODES = {0: "i", 1: "u", 2: "f"}


@dataclass
class DGLGraph:
    """One graph of a ``save_graphs`` file, as plain numpy arrays."""

    num_nodes: list[int]                        # per node type
    edges: list[tuple[np.ndarray, np.ndarray]]  # per edge type: (src, dst) int64, in edge-id order
    ndata: list[dict[str, np.ndarray]] = field(default_factory=list)
    edata: list[dict[str, np.ndarray]] = field(default_factory=list)
    ntypes: list[str] = field(default_factory=list)
    etypes: list[str] = field(default_factory=list)


class _Stream:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.path}: not a DGL save_graphs file we can read ({what} at byte {self.pos})")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated: needed {n} bytes")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def i64(self) -> int:
        return struct.unpack("<q", self.take(8))[0]

    def boolean(self) -> bool:
        return self.take(1) != b"\x00"

    def count(self, limit: int = 1 << 40) -> int:
        n = self.u64()
        if n > limit:
            raise self.fail(f"implausible length {n}")
        return n

    def string(self) -> str:
        return self.take(self.count(1 << 20)).decode("utf-8", errors="replace")

    def magic(self, expected: int, what: str) -> None:
        found = self.u64()
        if found != expected:
            self.pos -= 8
            raise self.fail(f"expected {what} magic {expected:#x}, found {found:#x}")

    def ndarray(self) -> np.ndarray:
        self.magic(NDARRAY_MAGIC, "NDArray")
        self.u64()  # reserved
        device_type, _ = struct.unpack("<ii", self.take(8))
        if device_type != 1:
            raise self.fail(f"NDArray on device type {device_type} (expected CPU = 1)")
        (ndim,) = struct.unpack("<i", self.take(4))
        code, bits, lanes = struct.unpack("<BBH", self.take(4))
        if not 0 <= ndim <= 8 or code not in _TYPE_CODES or bits not in (8, 16, 32, 64) or lanes != 1:
            raise self.fail(f"NDArray header ndim={ndim} type code={code} bits={bits} lanes={lanes}")
        shape = struct.unpack(f"<{ndim}q", self.take(8 * ndim)) if ndim else ()
        nbytes = self.i64()
        dtype = np.dtype(f"<{_TYPE_CODES[code]}{bits // 8}")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if ndim else dtype.itemsize
        if nbytes != expected:
            raise self.fail(f"NDArray of shape {shape} and {dtype} with {nbytes} bytes (expected {expected})")
        return np.frombuffer(self.take(nbytes), dtype=dtype).reshape(shape).copy()

    def named_tensors(self) -> dict[str, np.ndarray]:
        out = {}
        for _ in range(self.count(1 << 20)):
            name = self.string()
            out[name] = self.ndarray()
        return out

    def csr(self) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        self.magic(CSR_MAGIC, "CSRMatrix")
        cols, rows = self.i64(), self.i64()
        indptr, indices, data = self.ndarray(), self.ndarray(), self.ndarray()
        self.boolean()
        return rows, cols, indptr, indices, data

    def coo(self) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        self.magic(COO_MAGIC, "COOMatrix")
        cols, rows = self.i64(), self.i64()
        row, col, data = self.ndarray(), self.ndarray(), self.ndarray()
        self.boolean()
        self.boolean()
        return rows, cols, row, col, data

    def immutable_graph(self) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        self.magic(IMMUTABLE_MAGIC, "ImmutableGraph")
        return self.csr()

    def unit_graph(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(#src nodes, #dst nodes, src, dst) with edges in edge-id order."""
        self.magic(UNITGRAPH_MAGIC, "UnitGraph")
        saved = self.i64()
        self.i64()  # the formats the graph may be converted to: not needed to read it
        if saved >> 32:
            mask = saved & 0xFFFFFFFF
        else:
            mask = {0: 1, 1: 1, 2: 2, 3: 4}.get(saved, 0)
        if not mask & 7:
            raise self.fail(f"UnitGraph with unknown saved format code {saved:#x}")
        result = None
        if mask & 1:
            self.immutable_graph()
            rows, cols, row, col, data = self.coo()
            if data.size:
                order = np.argsort(data, kind="stable")
                row, col = row[order], col[order]
            result = (rows, cols, row.astype(np.int64), col.astype(np.int64))
        for bit in (2, 4):
            if mask & bit:
                self.immutable_graph()
                rows, cols, indptr, indices, data = self.csr()
                if result is None:
                    if indptr.size != rows + 1 or (indptr.size and int(indptr[-1]) != indices.size):
                        raise self.fail(f"CSR with {rows} rows but indptr of length {indptr.size}")
                    major = np.repeat(np.arange(rows, dtype=np.int64), np.diff(indptr.astype(np.int64)))
                    minor = indices.astype(np.int64)
                    if data.size:
                        order = np.argsort(data, kind="stable")
                        major, minor = major[order], minor[order]
                    # CSR rows are sources; CSC ("in" CSR) rows are destinations
                    result = (rows, cols, major, minor) if bit == 2 else (cols, rows, minor, major)
        assert result is not None
        return result


def _read_graph(s: _Stream, newer: bool) -> DGLGraph:
    s.magic(HETEROGRAPH_MAGIC, "HeteroGraph")
    meta_rows, _, _, meta_indices, _ = s.immutable_graph()
    num_types = meta_rows
    relations = [s.unit_graph() for _ in range(s.count(1 << 20))]
    if len(relations) != meta_indices.size:
        raise s.fail(f"{len(relations)} relation graphs for a meta graph with {meta_indices.size} edge types")
    if newer:
        n = s.count(1 << 20)
        num_nodes = list(struct.unpack(f"<{n}q", s.take(8 * n)))
    else:
        num_nodes = []
    ndata = [s.named_tensors() for _ in range(s.count(1 << 20))]
    edata = [s.named_tensors() for _ in range(s.count(1 << 20))]
    ntypes = [s.string() for _ in range(s.count(1 << 20))]
    etypes = [s.string() for _ in range(s.count(1 << 20))]
    if not num_nodes:
        num_nodes = [0] * max(num_types, len(ntypes))
        if len(relations) == 1 and len(num_nodes) == 1:
            num_nodes = [relations[0][0]]
    return DGLGraph(
        num_nodes=num_nodes, edges=[(src, dst) for _, _, src, dst in relations], ndata=ndata, edata=edata,
        ntypes=ntypes, etypes=etypes,
    )


def load_graphs(path: str | Path) -> tuple[list[DGLGraph], dict[str, np.ndarray]]:
    """Every graph in a ``dgl.save_graphs`` file and the file's graph-label dict."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    data = path.read_bytes()
    s = _Stream(data, path)
    if len(data) < 4096 + 8:
        raise InputError(f"{path}: not a DGL save_graphs file (only {len(data)} bytes)")
    magic, version, _graph_type, num_graphs = struct.unpack_from("<QQQQ", data, 0)
    if magic != FILE_MAGIC:
        raise InputError(f"{path}: not a DGL save_graphs file (magic {magic:#x}, expected {FILE_MAGIC:#x})")
    if version != 2:
        raise InputError(f"{path}: DGL graph file format version {version}; only version 2 (DGL >= 0.5) is supported")
    s.pos = 4096
    start = s.u64()
    labels = s.named_tensors()
    if start > len(data):
        raise s.fail(f"graph data offset {start} beyond the end of the file")
    graphs: list[DGLGraph] = []
    for _ in range(num_graphs):
        begin, error = s.pos if graphs else start, None
        for newer in (True, False):
            s.pos = begin
            try:
                graphs.append(_read_graph(s, newer))
                break
            except InputError as exc:
                error = exc
        else:
            raise error  # type: ignore[misc]
    tail = len(data) - s.pos
    if tail != 8 + 8 + 8 * num_graphs + 8:  # string(vector<u64> offsets) + its size
        raise s.fail(f"{tail} bytes after the last graph (expected the {num_graphs} graph offsets)")
    return graphs, labels
