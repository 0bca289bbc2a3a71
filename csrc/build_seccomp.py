"""cffi build script for pocketbox._seccomp: the part of libseccomp that turns a seccomp profile
into BPF (man 3 seccomp_init, seccomp_rule_add, seccomp_export_bpf). Only the compiler lives
here; loading the BPF is one syscall in pocketbox._sys, so a cached filter needs no libseccomp."""
from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("""
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;
struct scmp_arg_cmp { unsigned int arg; int op; scmp_datum_t datum_a; scmp_datum_t datum_b; };
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_arch_exist(const scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt,
                           const struct scmp_arg_cmp *arg_array);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
int seccomp_attr_set(scmp_filter_ctx ctx, int attr, uint32_t value);
""")
ffibuilder.set_source("pocketbox._seccomp", "#include <seccomp.h>", libraries=["seccomp"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
