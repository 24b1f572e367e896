"""Ahead-of-time compilation of the generated Triton kernels for an NVIDIA target, without a GPU.

``python -m econdsl.compiler.backends.triton_aot MODEL.econ [--arch 90] [--num-warps 8] [--dtype float32]``
compiles every kernel of the model down to a cubin with the ptxas bundled in the Triton wheel and
prints, per kernel, the registers per thread, spill bytes, shared memory, SASS instruction count and the
occupancy they allow (derived from the sm_90 limits, :meth:`KernelInfo.occupancy`). ``--tile --block 32 64``
compiles the variant that loops over blocks of the largest population, ``--replicas 2 4`` several
replicas per program.
It proves on a CPU-only machine that the kernels the interpreter runs also compile for the GPU (the
interpreter accepts some programs the compiler rejects), and gives the numbers behind the occupancy
estimate in the report. Must run with ``TRITON_INTERPRET`` unset (the module refuses otherwise).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..ir import Program


@dataclass(frozen=True)
class KernelInfo:
    name: str
    num_warps: int
    registers: int
    spill_bytes: int
    shared_bytes: int
    sass_instructions: int
    replicas: int = 1
    block: int | None = None  # the tiled population's block (None: one register tile of every population)

    def occupancy(self, regs_per_sm: int = 65536, max_warps: int = 64, max_blocks: int = 32) -> float:
        """Resident warps per SM over the maximum (derived: sm_90 limits, registers allocated per warp in
        units of 256, shared memory ignored: these kernels use at most a few KB)."""
        per_warp = -(-self.registers * 32 // 256) * 256
        programs = min(regs_per_sm // (per_warp * self.num_warps), max_warps // self.num_warps, max_blocks)
        return programs * self.num_warps / max_warps


def _signature(fn, plan, dtype: str, meta: dict[str, int]) -> tuple[dict[str, str], dict[str, object]]:
    import triton.language as tl

    ptr = {"float32": "*fp32", "float64": "*fp64"}[dtype]
    sig: dict[str, str] = {}
    consts: dict[str, object] = {}
    for a in fn.arg_names:
        if a.startswith("pi"):
            src, _ = plan.inputs[int(a[2:])]
            sig[a] = "*fp64" if src == "uniform" else "*i64" if src == "rng" else ptr
        elif a.startswith("pa") or a == "pob":
            sig[a] = "*i8"
        elif a == "poi":
            sig[a] = "*i64"
        elif a in ("pk", "pof") or a.startswith("po"):
            sig[a] = ptr
        elif a == "E":
            sig[a] = "i32"
        elif a == "DT":
            sig[a], consts[a] = "constexpr", getattr(tl, dtype)
        elif a == "WRITE_Q":
            sig[a], consts[a] = "constexpr", True
        elif a in meta:  # R, BT
            sig[a], consts[a] = "constexpr", meta[a]
        else:
            raise ValueError(f"unexpected kernel argument {a!r}")
    return sig, consts


def _tool(name: str) -> str:
    import triton

    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def compile_kernels(program: Program, dtype: str = "float32", arch: int = 90, num_warps: int | None = None,
                    kernels: tuple[str, ...] = ("k_init", "k_step", "k_observe", "k_step_observe"),
                    tile: bool = False, block: int | None = None, replicas: int | None = None,
                    n_envs: int = 65536) -> list[KernelInfo]:
    """Compile the program's kernels for ``sm_{arch}`` and return their resource usage; ``tile``, ``block``,
    ``replicas`` and ``num_warps`` as the backend's options (None: its config table at ``n_envs`` replicas)."""
    from .triton_backend import interpreting, load_module, table_config

    if interpreting():
        raise RuntimeError("triton_aot needs TRITON_INTERPRET unset (the interpreter does not compile)")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from .. import cache
    from .triton_printer import print_program

    printed = print_program(program, dtype, tile)
    mod = load_module(printed.source, cache.key(program, dtype=dtype, backend="triton-aot", extra=str(tile)))
    cfg = table_config(program, printed.tiled, n_envs, block, replicas, num_warps)
    nw = cfg.num_warps
    out = []
    for name in kernels:
        fn = getattr(mod, name)
        sig, consts = _signature(fn, printed.kernels[name], dtype, cfg.meta())
        k = triton.compile(ASTSource(fn=fn, signature=sig, constexprs=consts), target=GPUTarget("cuda", arch, 32),
                           options={"num_warps": nw})
        with tempfile.TemporaryDirectory() as d:
            ptx, cubin = Path(d) / "k.ptx", Path(d) / "k.cubin"
            ptx.write_text(k.asm["ptx"])
            cubin.write_bytes(k.asm["cubin"])
            arch_flag = f"-arch=sm_{arch}a" if arch >= 90 else f"-arch=sm_{arch}"
            log = ""
            for tool in ("ptxas-blackwell", "ptxas"):  # the PTX version decides which bundled ptxas reads it
                res = subprocess.run([_tool(tool), arch_flag, "-v", str(ptx), "-o", str(Path(d) / "v.cubin")],
                                     capture_output=True, text=True)
                if res.returncode == 0:
                    log = res.stderr
                    break
            sass = subprocess.run([_tool("nvdisasm"), "-c", str(cubin)], capture_output=True, text=True).stdout
        regs = re.findall(r"Used (\d+) registers", log)
        spills = re.findall(r"(\d+) bytes spill stores", log)
        n_instr = sum(1 for line in sass.splitlines() if re.match(r"\s*/\*[0-9a-f]+\*/\s+\S", line))
        out.append(KernelInfo(name, nw, int(regs[0]) if regs else -1, int(spills[0]) if spills else -1,
                              int(k.metadata.shared), n_instr, cfg.replicas, cfg.block))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Compile a model's Triton kernels for a GPU target, without a GPU.")
    ap.add_argument("model", type=Path)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--arch", type=int, default=90)
    ap.add_argument("--num-warps", type=int, nargs="*", default=[0])
    ap.add_argument("--tile", action="store_true", help="loop over blocks of the largest tileable population")
    ap.add_argument("--block", type=int, nargs="*", default=[0], help="its block sizes (0: the config table's)")
    ap.add_argument("--replicas", type=int, nargs="*", default=[0], help="replicas per program (0: the table's)")
    ap.add_argument("--kernels", nargs="*", default=["k_init", "k_step", "k_observe", "k_step_observe"])
    args = ap.parse_args(argv)
    import econdsl

    prog = econdsl.load(args.model).lean_program()
    for nw in args.num_warps:
        for bt in args.block:
            for r in args.replicas:
                for info in compile_kernels(prog, args.dtype, args.arch, nw or None, tuple(args.kernels), args.tile,
                                            bt or None, r or None):
                    print(f"{info.name:20s} sm_{args.arch} replicas={info.replicas:<3d} block={info.block or '-':<4} "
                          f"num_warps={info.num_warps:<3d} registers={info.registers:<4d} "
                          f"spill_bytes={info.spill_bytes:<4d} shared={info.shared_bytes:<6d} "
                          f"sass_instructions={info.sass_instructions:<6d} occupancy={info.occupancy():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
