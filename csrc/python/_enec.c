/* _enec.c - the CPython extension: buffer-protocol glue over the C codec, GIL released while coding. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "../enec.h"
#include "../codec/kernels.h"
#include "../codec/search.h"
#include "glue.h"
#ifdef __linux__
#include <sys/mman.h>
#endif

/* A large output we allocate is written once, front to back: ask for
 * transparent huge pages on it (where the kernel gives them on request,
 * THP "madvise"), so the first touch faults 2 MiB at a time instead of
 * 4 KiB. A hint: refused or unsupported, nothing changes. NumPy does the
 * same for the large arrays decompress returns. */
static void huge_pages_hint(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20, a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    const uintptr_t e = ((uintptr_t)p + n) & ~(huge - 1);
    if (n >= 4 * huge && e > a) (void)madvise((void *)a, (size_t)(e - a), MADV_HUGEPAGE);
#else
    (void)p, (void)n;
#endif
}

static enec_py_errors errors;

static PyObject *raise_error(size_t code) { return enec_py_raise(code, &errors, "enec"); }

/* Fill an enec_tensor from (dtype code, itemsize, shape tuple, descr bytes). */
static int parse_tensor(int dtype, Py_ssize_t itemsize, PyObject *shape, Py_buffer *descr, enec_tensor *t)
{
    memset(t, 0, sizeof *t);
    if (dtype < 0 || dtype >= ENEC_DTYPE_COUNT || itemsize < 1 || itemsize > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "enec: bad dtype code or itemsize");
        return -1;
    }
    t->dtype = (enec_dtype)dtype;
    t->itemsize = (uint32_t)itemsize;
    if (enec_py_shape(shape, t, "enec")) return -1;
    if (descr->len > ENEC_MAX_DESCR) {
        PyErr_Format(PyExc_ValueError, "enec: dtype description longer than %d bytes", ENEC_MAX_DESCR);
        return -1;
    }
    t->descr = (const char *)descr->buf;
    t->descr_len = (uint32_t)descr->len;
    return 0;
}

/* Does a buffer of len bytes hold exactly the elements the shape promises? */
static int nbytes_match(const enec_tensor *t, uint64_t len)
{
    uint64_t n = t->itemsize;
    for (uint32_t i = 0; i < t->ndim; i++) {
        if (t->shape[i] && n > UINT64_MAX / t->shape[i]) return 0;
        n *= t->shape[i];
    }
    return n == len;
}

static PyObject *py_compress(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"data", "dtype", "itemsize", "shape", "descr", "threads", "stored", "params",
                             "backend", "mode", "out", NULL};
    Py_buffer src = {0}, descr = {0}, dst = {0};
    int dtype, threads = 0, stored = 0, backend = 0, mode = ENEC_MODE_FAST;
    Py_ssize_t itemsize;
    PyObject *shape, *params = Py_None, *out = NULL, *into = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*inOy*|ipOiiO", kwlist, &src, &dtype, &itemsize, &shape,
                                     &descr, &threads, &stored, &params, &backend, &mode, &into))
        return NULL;
    enec_tensor t;
    enec_params p = {0};
    enec_options o = {.threads = threads, .backend = backend, .force_stored = stored, .mode = mode};
    size_t bound, r;
    if (parse_tensor(dtype, itemsize, shape, &descr, &t) < 0) goto done;
    if (params != Py_None) {
        int b, n, m, L;
        if (!PyArg_ParseTuple(params, "iiii", &b, &n, &m, &L)) goto done;
        if (b < 0 || b > 255 || n < 0 || n > 255 || m < 0 || m > 255 || L < 0 || L > 255) {
            PyErr_SetString(PyExc_ValueError, "enec: parameters out of range");
            goto done;
        }
        p.b = (uint8_t)b, p.n = (uint8_t)n, p.m = (uint8_t)m, p.L = (uint8_t)L;
        o.params = &p;
    }
    bound = enec_compress_bound(&t);
    if (enec_is_error(bound)) {
        raise_error(bound);
        goto done;
    }
    if (!nbytes_match(&t, (uint64_t)src.len)) {
        PyErr_SetString(PyExc_ValueError, "enec: buffer size does not match shape and itemsize");
        goto done;
    }
    if (into != Py_None) {
        /* The caller's buffer: a long-running process reuses it and pays no page faults. */
        if (PyObject_GetBuffer(into, &dst, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto done;
        Py_BEGIN_ALLOW_THREADS
        r = enec_compress(dst.buf, (size_t)dst.len, src.buf, &t, &o);
        Py_END_ALLOW_THREADS
        if (enec_is_error(r)) raise_error(r);
        else out = PyLong_FromSize_t(r);
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bound);
    if (!out) goto done;
    huge_pages_hint(PyBytes_AS_STRING(out), bound);
    Py_BEGIN_ALLOW_THREADS
    r = enec_compress(PyBytes_AS_STRING(out), bound, src.buf, &t, &o);
    Py_END_ALLOW_THREADS
    if (enec_is_error(r)) {
        Py_CLEAR(out);
        raise_error(r);
        goto done;
    }
    if (r != bound) _PyBytes_Resize(&out, (Py_ssize_t)r);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&descr);
    if (dst.obj) PyBuffer_Release(&dst);
    return out;
}

/* The Python name of a stream mode: "stored", "fast". */
static const char *mode_name(int mode)
{
    static const char *const names[ENEC_MODE_COUNT] = {[ENEC_MODE_STORED] = "stored", [ENEC_MODE_FAST] = "fast",
                                                        [ENEC_MODE_MAX] = "max"};
    return mode >= 0 && mode < ENEC_MODE_COUNT && names[mode] ? names[mode] : "unknown";
}

static PyObject *py_compress_bound(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer descr = {0};
    int dtype;
    Py_ssize_t itemsize;
    PyObject *shape, *res = NULL;
    if (!PyArg_ParseTuple(args, "inOy*", &dtype, &itemsize, &shape, &descr)) return NULL;
    enec_tensor t;
    if (parse_tensor(dtype, itemsize, shape, &descr, &t) == 0) {
        size_t b = enec_compress_bound(&t);
        res = enec_is_error(b) ? raise_error(b) : PyLong_FromSize_t(b);
    }
    PyBuffer_Release(&descr);
    return res;
}

static PyObject *header_dict(const enec_header *h)
{
    PyObject *shape = PyTuple_New(h->tensor.ndim);
    if (!shape) return NULL;
    for (uint32_t i = 0; i < h->tensor.ndim; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(h->tensor.shape[i]);
        if (!v) {
            Py_DECREF(shape);
            return NULL;
        }
        PyTuple_SET_ITEM(shape, i, v);
    }
    PyObject *params = Py_None;
    Py_INCREF(Py_None);
    if (h->mode != ENEC_MODE_STORED) {
        Py_DECREF(Py_None);
        params = Py_BuildValue("(iiii)", h->params.b, h->params.n, h->params.m, h->params.L);
        if (!params) {
            Py_DECREF(shape);
            return NULL;
        }
    }
    return Py_BuildValue("{s:I,s:s,s:i,s:I,s:N,s:y#,s:N,s:K,s:K,s:K,s:K,s:K,s:K}", "version", h->version,
                         "mode", mode_name((int)h->mode), "dtype", (int)h->tensor.dtype, "itemsize",
                         h->tensor.itemsize, "shape", shape, "descr", h->tensor.descr ? h->tensor.descr : "",
                         (Py_ssize_t)h->tensor.descr_len, "params", params, "count",
                         (unsigned long long)h->count, "nblocks", (unsigned long long)h->nblocks,
                         "header_size", (unsigned long long)h->header_size, "payload_size",
                         (unsigned long long)h->payload_size, "stream_size",
                         (unsigned long long)h->stream_size, "original_size",
                         (unsigned long long)h->original_size);
}

static PyObject *py_read_header(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src;
    if (!PyArg_ParseTuple(args, "y*", &src)) return NULL;
    enec_header h;
    PyObject *res = NULL;
    size_t r = enec_read_header(src.buf, (size_t)src.len, &h);
    if (enec_is_error(r)) enec_py_raise_stream(r, &errors, "enec", src.buf, (size_t)src.len);
    else res = header_dict(&h);
    PyBuffer_Release(&src);
    return res;
}

static PyObject *py_decompress_into(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"data", "out", "threads", "backend", "max_size", NULL};
    Py_buffer src, dst;
    int threads = 0, backend = 0;
    unsigned long long max_size = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*w*|iiK", kwlist, &src, &dst, &threads, &backend, &max_size))
        return NULL;
    size_t r;
    enec_options o = {.threads = threads, .backend = backend, .max_output_size = max_size};
    Py_BEGIN_ALLOW_THREADS
    r = enec_decompress(dst.buf, (size_t)dst.len, src.buf, (size_t)src.len, &o);
    Py_END_ALLOW_THREADS
    PyObject *res = enec_is_error(r) ? enec_py_raise_stream(r, &errors, "enec", src.buf, (size_t)src.len)
                                     : PyLong_FromSize_t(r);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return res;
}

static PyObject *py_search_params(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src;
    int dtype;
    if (!PyArg_ParseTuple(args, "y*i", &src, &dtype)) return NULL;
    enec_params p;
    size_t r = (size_t)-(ptrdiff_t)ENEC_ERR_BAD_ARGUMENT;
    const enec_dtype_desc *dd = enec_dtype_describe(dtype);
    if (dd && src.len % dd->itemsize == 0) {
        Py_ssize_t itemsize = dd->itemsize;
        Py_BEGIN_ALLOW_THREADS
        r = enec_search_params(src.buf, (uint64_t)(src.len / itemsize), (enec_dtype)dtype, &p);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&src);
    if (enec_is_error(r)) return raise_error(r);
    return Py_BuildValue("(iiiid)", p.b, p.n, p.m, p.L, p.bits);
}

/* Test hook: one backend's exponent histogram kernel as it is, so that the
 * tests compare every kernel with an independent count, bin for bin (the
 * parameters it leads to can hide a wrong bin). */
static PyObject *py_histogram(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src;
    int dtype, backend;
    if (!PyArg_ParseTuple(args, "y*ii", &src, &dtype, &backend)) return NULL;
    const enec_dtype_info *di = enec_dtype_lookup(dtype);
    const enec_block_kernels *k = backend > ENEC_BACKEND_AUTO ? enec_kernels_get(backend) : NULL;
    if (!di || !k || src.len % di->itemsize) {
        PyBuffer_Release(&src);
        PyErr_SetString(PyExc_ValueError, "a coded dtype, a whole number of its elements and an available backend");
        return NULL;
    }
    uint64_t hist[ENEC_HIST_BINS];
    Py_BEGIN_ALLOW_THREADS
    enec_histogram_for(k, dtype)(di, (const uint8_t *)src.buf, (uint64_t)src.len / di->itemsize, hist);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    PyObject *list = PyList_New(ENEC_HIST_BINS);
    for (unsigned x = 0; list && x < ENEC_HIST_BINS; x++) {
        PyObject *v = PyLong_FromUnsignedLongLong(hist[x]);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, x, v);
    }
    return list;
}

static PyObject *py_crc32c(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src;
    unsigned int crc = 0;
    if (!PyArg_ParseTuple(args, "y*|I", &src, &crc)) return NULL;
    uint32_t r;
    Py_BEGIN_ALLOW_THREADS
    r = enec_crc32c(crc, src.buf, (size_t)src.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    return PyLong_FromUnsignedLong(r);
}

static PyObject *py_backends(PyObject *self, PyObject *args)
{
    (void)self, (void)args;
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (int b = ENEC_BACKEND_SCALAR; b < ENEC_BACKEND_COUNT; b++) {
        if (!enec_backend_name(b)) continue; /* not in this build */
        PyObject *v = PyLong_FromLong(b);
        if (!v || PyDict_SetItemString(d, enec_backend_name(b), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *py_backend_available(PyObject *self, PyObject *args)
{
    (void)self;
    int b;
    if (!PyArg_ParseTuple(args, "i", &b)) return NULL;
    return PyBool_FromLong(enec_backend_available(b));
}

static PyObject *py_auto_backend(PyObject *self, PyObject *args)
{
    (void)self, (void)args;
    return PyUnicode_FromString(enec_backend_name(ENEC_BACKEND_AUTO));
}

static PyObject *py_dtypes(PyObject *self, PyObject *args)
{
    (void)self, (void)args;
    PyObject *list = PyList_New(0);
    for (int d = 0; list && d < ENEC_DTYPE_COUNT; d++) {
        const enec_dtype_desc *dd = enec_dtype_describe(d);
        if (!dd) continue;
        PyObject *row = Py_BuildValue("{s:i,s:s,s:I,s:I,s:I,s:I}", "code", (int)dd->dtype, "name", dd->name,
                                      "itemsize", dd->itemsize, "ebits", dd->ebits, "mbits", dd->mbits, "rawbits",
                                      dd->rawbits);
        if (!row || PyList_Append(list, row) < 0) Py_CLEAR(list);
        Py_XDECREF(row);
    }
    return list;
}

static PyObject *py_modes(PyObject *self, PyObject *args)
{
    (void)self, (void)args;
    PyObject *d = PyDict_New();
    for (int m = 0; d && m < ENEC_MODE_COUNT; m++) {
        PyObject *v = PyLong_FromLong(m);
        if (!v || PyDict_SetItemString(d, mode_name(m), v) < 0) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyMethodDef methods[] = {
    {"dtypes", py_dtypes, METH_NOARGS,
     "dtypes() -> [{code, name, itemsize, ebits, mbits, rawbits}]: the C table of coded dtypes"},
    {"modes", py_modes, METH_NOARGS, "modes() -> {name: code} of every stream mode this build reads"},
    {"backend_ids", py_backends, METH_NOARGS, "backend_ids() -> {name: id} of every backend this build knows"},
    {"backend_available", py_backend_available, METH_VARARGS, "backend_available(id) -> bool"},
    {"auto_backend", py_auto_backend, METH_NOARGS, "auto_backend() -> name of the backend 'auto' picks"},
    {"compress", (PyCFunction)(void (*)(void))py_compress, METH_VARARGS | METH_KEYWORDS,
     "compress(data, dtype, itemsize, shape, descr, threads=0, stored=False, params=None, backend=0, mode=1, out=None)"
     " -> bytes, or the byte count written into out"},
    {"compress_bound", py_compress_bound, METH_VARARGS,
     "compress_bound(dtype, itemsize, shape, descr) -> int: the largest stream compress can write"},
    {"read_header", py_read_header, METH_VARARGS, "read_header(data) -> dict: parse and validate a stream header"},
    {"decompress_into", (PyCFunction)(void (*)(void))py_decompress_into, METH_VARARGS | METH_KEYWORDS,
     "decompress_into(data, out, threads=0, backend=0, max_size=0) -> int: decode into a writable buffer"},
    {"search_params", py_search_params, METH_VARARGS, "search_params(data, dtype) -> (b, n, m, L, bits)"},
    {"crc32c", py_crc32c, METH_VARARGS, "crc32c(data, crc=0) -> int"},
    {"_histogram", py_histogram, METH_VARARGS, "_histogram(data, dtype, backend) -> 256 counts (a test hook)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_enec", "enec C core", -1, methods,
                                    NULL, NULL, NULL, NULL};

/* PyModule_AddObjectRef, which Python 3.9 lacks: the module gets its own reference. */
static int add_ref(PyObject *mod, const char *name, PyObject *obj)
{
    Py_INCREF(obj);
    if (PyModule_AddObject(mod, name, obj) < 0) {
        Py_DECREF(obj);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__enec(void)
{
    PyObject *mod = PyModule_Create(&module);
    if (!mod) return NULL;
    errors.corrupt = PyErr_NewExceptionWithDoc(
        "enec.CorruptDataError", "The input is not a valid enec stream: damaged, truncated or foreign.",
        PyExc_ValueError, NULL);
    if (!errors.corrupt || add_ref(mod, "CorruptDataError", errors.corrupt) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    errors.unsupported = PyErr_NewExceptionWithDoc(
        "enec.UnsupportedFormatError",
        "The stream is intact but newer than this build: a format version, mode or dtype it does not know. "
        "Upgrade enec to read it. A subclass of CorruptDataError.",
        errors.corrupt, NULL);
    if (!errors.unsupported || add_ref(mod, "UnsupportedFormatError", errors.unsupported) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    /* The library's own version, which a mismatched build would betray. */
    if (strcmp(enec_version_string(), ENEC_VERSION_STRING) != 0) {
        PyErr_Format(PyExc_ImportError, "enec: extension built against enec.h %s but linked with libenec %s",
                     ENEC_VERSION_STRING, enec_version_string());
        Py_DECREF(mod);
        return NULL;
    }
    if (PyModule_AddStringConstant(mod, "__version__", enec_version_string()) < 0 ||
        PyModule_AddIntConstant(mod, "VERSION_NUMBER", (long)enec_version_number()) < 0 ||
        PyModule_AddIntConstant(mod, "FORMAT_VERSION_MIN", ENEC_FORMAT_VERSION_MIN) < 0 ||
        PyModule_AddIntConstant(mod, "FORMAT_VERSION", ENEC_FORMAT_VERSION) < 0 ||
        PyModule_AddIntConstant(mod, "BLOCK", ENEC_BLOCK) < 0 ||
#ifdef ENEC_AVX512_EMULATE
        PyModule_AddIntConstant(mod, "AVX512_EMULATED", 1) < 0) {
#else
        PyModule_AddIntConstant(mod, "AVX512_EMULATED", 0) < 0) {
#endif
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
