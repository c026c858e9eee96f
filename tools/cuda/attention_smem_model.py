#!/usr/bin/env python3
"""Shared-memory wavefronts per warp per key tile of the flash-attention
kernel (kernels/cuda/attention.cu), the wmma version it replaced against the
cp.async + ldmatrix + mma.sync one: a static model of each kernel's shared
memory instructions, enumerated lane by lane.

Bank rule (sm_80/sm_90): 32 banks of 4 bytes; a warp instruction is served in
phases of 128 bytes (32 lanes for 4-byte accesses and narrower, 16 lanes for
8-byte, 8 lanes for 16-byte; ldmatrix: one 8x8 matrix = 8 rows of 16 bytes);
a phase takes as many wavefronts as the most distinct 4-byte words any one
bank must serve (the same word is a broadcast). 1 wavefront per phase is
conflict free.

What is exact and what is assumed:
 * new kernel: every shared access is cp.async (16 B) or ldmatrix, with the
   addresses the source computes: exact (the emulator's ldmatrix counter,
   farm::emu::warp_matrix_counters, gives the same ldmatrix figure).
 * old kernel: the softmax loops, the row max/sum and the 16-byte tile stores
   are plain code: exact. Its wmma fragments are modelled as the SASS nvcc
   emits for them on sm_80: 16-bit operand tiles as LDSM-like 8x8 matrices
   (rows ldm apart), fp32 accumulator tiles as 8-byte accesses in the
   mma.m16n8 accumulator layout. The wmma API does not specify these.

usage: attention_smem_model.py   (prints a table; no arguments)
"""

BM, WARPS = 64, 4


def phase_wavefronts(accesses):
    """accesses: list of (byte address, width) served in one phase."""
    words = set()
    for addr, width in accesses:
        first = addr // 4
        for w in range(first, first + max(1, width // 4)):
            words.add(w)
    per_bank = {}
    for w in words:
        per_bank[w % 32] = per_bank.get(w % 32, 0) + 1
    return max(per_bank.values()) if per_bank else 0


def warp_instr(addrs, width):
    """One warp instruction, lanes' addresses (None: inactive)."""
    lanes_per_phase = 32 if width <= 4 else 128 // width
    total = 0
    for p in range(0, 32, lanes_per_phase):
        acc = [(a, width) for a in addrs[p:p + lanes_per_phase] if a is not None]
        total += phase_wavefronts(acc)
    return total


def ldmatrix_x4(row_addr):
    """row_addr(lane) for lane 0..31: 4 matrices of 8 rows x 16 B."""
    return sum(phase_wavefronts([(row_addr(8 * j + r), 16) for r in range(8)]) for j in range(4))


def frag16(base, ldm_bytes):
    """A 16x16 16-bit wmma operand tile at base, rows ldm_bytes apart (LDSM model)."""
    return ldmatrix_x4(lambda l: base + (l % 8 + (l // 8 % 2) * 8) * ldm_bytes + (l // 16) * 16)


def acc16(base, ldm_bytes):
    """A 16x16 fp32 wmma accumulator load or store: 4 instructions of 8 bytes per lane."""
    total = 0
    for rh in range(2):
        for ch in range(2):
            total += warp_instr([base + (l // 4 + 8 * rh) * ldm_bytes + (8 * ch + 2 * (l % 4)) * 4 for l in range(32)], 8)
    return total


def block_tile_stores(rows, chunks, row_bytes, warp):
    """16-byte stores of a [rows, chunks*8] 16-bit tile by 128 threads, i = tid + 128k: this warp's share."""
    total = 0
    n = rows * chunks
    for base in range(0, n, 128):
        addrs = []
        for l in range(32):
            i = base + warp * 32 + l
            addrs.append(None if i >= n else (i // chunks) * row_bytes + (i % chunks) * 16)
        if any(a is not None for a in addrs):
            total += warp_instr(addrs, 16)
    return total


def old_kernel(dp, bn, warp=0):
    k_off = 0
    v_off = k_off + bn * dp * 2
    s_off = v_off + bn * dp * 2
    p_off = s_off + BM * bn * 4
    o_off = p_off + BM * bn * 2
    m_off = o_off + BM * dp * 4
    l_off = m_off + BM * 4
    parts = {}
    parts["K/V tile stores"] = 2 * block_tile_stores(bn, dp // 8, dp * 2, warp)
    qk = 0
    for nj in range(bn // 16):
        for kk in range(dp // 16):
            qk += frag16(k_off + nj * 16 * dp * 2 + kk * 32, dp * 2)
        qk += acc16(s_off + warp * 16 * bn * 4 + nj * 64, bn * 4)
    parts["S=QK^T (wmma K loads, S stores)"] = qk
    rows = [warp * 16 + l // 2 for l in range(32)]
    half = [l % 2 for l in range(32)]
    sm = 0
    for c in range(bn // 2):  # loop 1: read and write srow[c]
        a = [s_off + rows[l] * bn * 4 + (half[l] * bn // 2 + c) * 4 for l in range(32)]
        sm += 2 * warp_instr(a, 4)
    sm += warp_instr([m_off + rows[l] * 4 for l in range(32)], 4)  # row_m read
    for c in range(bn // 2):  # loop 2: read srow[c], write prow[c]
        sm += warp_instr([s_off + rows[l] * bn * 4 + (half[l] * bn // 2 + c) * 4 for l in range(32)], 4)
        sm += warp_instr([p_off + rows[l] * bn * 2 + (half[l] * bn // 2 + c) * 2 for l in range(32)], 2)
    for d in range(dp // 2):  # O rescale: read and write orow[d]
        a = [o_off + rows[l] * dp * 4 + (half[l] * dp // 2 + d) * 4 for l in range(32)]
        sm += 2 * warp_instr(a, 4)
    lanes0 = [m_off + rows[l] * 4 if half[l] == 0 else None for l in range(32)]
    sm += warp_instr(lanes0, 4) + 2 * warp_instr([l_off - m_off + a if a is not None else None for a in lanes0], 4)
    parts["softmax on fp32 S and O in shared"] = sm
    pv = 0
    for dj in range(dp // 16):
        pv += 2 * acc16(o_off + warp * 16 * dp * 4 + dj * 64, dp * 4)  # O load + store
        for kk in range(bn // 16):
            pv += frag16(p_off + warp * 16 * bn * 2 + kk * 32, bn * 2)
            pv += frag16(v_off + kk * 16 * dp * 2 + dj * 32, dp * 2)
    parts["O+=PV (wmma P, V loads, O load/store)"] = pv
    return parts


def new_kernel(dp, bn, warp=0):
    stride = (dp + 8) * 2
    tile = bn * stride
    ks, vs = 0, tile
    parts = {}
    parts["K/V cp.async (16 B)"] = 2 * block_tile_stores(bn, dp // 8, stride, warp)
    qk = 0
    for nj in range(0, bn // 8, 2):
        for kk in range(dp // 16):
            qk += ldmatrix_x4(lambda l: ks + (nj * 8 + (l // 16) * 8 + l % 8) * stride + kk * 32 + (l // 8 % 2) * 16)
    parts["S=QK^T ldmatrix K"] = qk
    pv = 0
    for kk in range(bn // 16):
        for dj in range(0, dp // 8, 2):
            pv += ldmatrix_x4(lambda l: vs + (kk * 16 + (l // 8 % 2) * 8 + l % 8) * stride + dj * 16 + (l // 16) * 16)
    parts["O+=PV ldmatrix.trans V"] = pv
    return parts


def ideal(dp, bn):
    """Bytes a warp must move per tile / 128: K and V read once by each warp (ldmatrix) + its share of the tile stores."""
    return (2 * bn * dp * 2) // 128 + (2 * bn * dp * 2) // 128 // WARPS


if __name__ == "__main__":
    old_cfg = [(48, 64), (64, 64), (96, 32), (160, 32)]
    new_cfg = [(48, 64), (64, 64), (96, 64), (160, 32)]
    print("shared-memory wavefronts per warp per key tile (model: tools/cuda/attention_smem_model.py)")
    for (od, ob), (nd, nb) in zip(old_cfg, new_cfg):
        o, n = old_kernel(od, ob), new_kernel(nd, nb)
        ot, nt = sum(o.values()), sum(n.values())
        print(f"\nhead dim {od}: old <{od},{ob}> {ot} wavefronts/tile ({ot / ob:.1f} per key), "
              f"new <{nd},{nb}> {nt} wavefronts/tile ({nt / nb:.1f} per key); conflict-free floor for new {ideal(nd, nb)}")
        for k, val in o.items():
            print(f"    old  {k:44s} {val:6d}")
        for k, val in n.items():
            print(f"    new  {k:44s} {val:6d}")
