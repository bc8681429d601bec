/* python_npu.c - the CPython module enec._npu: the simulated NPU backend's buffers in, streams and reports out. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include "npu.h"
#include "../python/glue.h"

static PyObject *NpuError;         /* the device refused a kernel (UB overflow, alignment, segment rule) */
static enec_py_errors errors; /* enec._enec's, so callers catch one class for bad streams */

typedef struct {
    const char *key;
    char kind; /* 'i' int, 'u' uint32, 'U' uint64, 'd' double */
    size_t off;
} cfg_field;

#define F(k, t) {#k, t, offsetof(npu_config, k)}
static const cfg_field fields[] = {
    F(cores, 'i'), F(clock_ghz, 'd'), F(ub_bytes, 'u'), F(gm_bytes, 'U'), F(hbm_gbps, 'd'),
    F(mte2_bytes_per_cycle, 'd'), F(mte3_bytes_per_cycle, 'd'), F(dma_read_latency, 'u'),
    F(dma_write_latency, 'u'), F(dma_unaligned_factor, 'd'), F(vec_startup, 'u'), F(mask_cycles, 'u'),
    F(scalar_load, 'u'), F(scalar_store, 'u'), F(scalar_alu, 'u'), F(scalar_issue, 'u'), F(max_repeat, 'u'),
    F(dma_burst_bytes, 'u'), F(launch_cycles, 'u'), F(barrier_cycles, 'u'), F(flag_cycles, 'u'),
    F(queue_depth, 'u'), F(bank_conflicts, 'i'), F(race_check, 'i'), F(fault, 'i'), F(vec_overlap, 'i'),
};
#undef F
#define NFIELDS (sizeof fields / sizeof fields[0])

static PyObject *config_to_dict(const npu_config *c)
{
    PyObject *d = PyDict_New(), *cost = PyDict_New();
    if (!d || !cost) goto fail;
    for (size_t i = 0; i < NFIELDS; i++) {
        const char *p = (const char *)c + fields[i].off;
        PyObject *v = NULL;
        switch (fields[i].kind) {
        case 'i': v = PyLong_FromLong(*(const int *)p); break;
        case 'u': v = PyLong_FromUnsignedLong(*(const uint32_t *)p); break;
        case 'U': v = PyLong_FromUnsignedLongLong(*(const uint64_t *)p); break;
        default: v = PyFloat_FromDouble(*(const double *)p); break;
        }
        if (!v || PyDict_SetItemString(d, fields[i].key, v) < 0) {
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(v);
    }
    for (int o = 0; o < OP_COUNT; o++) {
        PyObject *v = PyFloat_FromDouble(c->cycles_per_repeat[o]);
        if (!v || PyDict_SetItemString(cost, enec_npu_opclass_name(o), v) < 0) {
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(v);
    }
    if (PyDict_SetItemString(d, "cycles_per_repeat", cost) < 0) goto fail;
    Py_DECREF(cost);
    return d;
fail:
    Py_XDECREF(d);
    Py_XDECREF(cost);
    return NULL;
}

/* Defaults, overridden by the keys of a dict; unknown keys are an error. */
static int config_from(PyObject *obj, npu_config *c)
{
    enec_npu_config_default(c);
    if (!obj || obj == Py_None) return 0;
    if (!PyDict_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "enec.npu: device configuration must be a dict");
        return -1;
    }
    PyObject *key, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(obj, &pos, &key, &val)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!k) {
            PyErr_SetString(PyExc_TypeError, "enec.npu: configuration keys must be strings");
            return -1;
        }
        if (!strcmp(k, "cycles_per_repeat")) {
            if (!PyDict_Check(val)) {
                PyErr_SetString(PyExc_TypeError, "enec.npu: cycles_per_repeat must be a dict");
                return -1;
            }
            PyObject *ok, *ov;
            Py_ssize_t p2 = 0;
            while (PyDict_Next(val, &p2, &ok, &ov)) {
                const char *on = PyUnicode_Check(ok) ? PyUnicode_AsUTF8(ok) : NULL;
                int found = -1;
                for (int o = 0; on && o < OP_COUNT; o++)
                    if (!strcmp(on, enec_npu_opclass_name(o))) found = o;
                if (found < 0) {
                    PyErr_Format(PyExc_ValueError, "enec.npu: unknown instruction class %R", ok);
                    return -1;
                }
                double v = PyFloat_AsDouble(ov);
                if (v == -1.0 && PyErr_Occurred()) return -1;
                c->cycles_per_repeat[found] = v;
            }
            continue;
        }
        size_t i = 0;
        while (i < NFIELDS && strcmp(fields[i].key, k)) i++;
        if (i == NFIELDS) {
            PyErr_Format(PyExc_ValueError, "enec.npu: unknown device parameter %R", key);
            return -1;
        }
        char *p = (char *)c + fields[i].off;
        if (fields[i].kind == 'd') {
            double v = PyFloat_AsDouble(val);
            if (v == -1.0 && PyErr_Occurred()) return -1;
            *(double *)p = v;
        } else {
            long long v = PyLong_AsLongLong(val);
            if (v == -1 && PyErr_Occurred()) return -1;
            if (v < 0 || (fields[i].kind != 'U' && v > 0x7FFFFFFFll)) {
                PyErr_Format(PyExc_ValueError, "enec.npu: %s = %lld out of range", k, v);
                return -1;
            }
            if (fields[i].kind == 'i') *(int *)p = (int)v;
            else if (fields[i].kind == 'u') *(uint32_t *)p = (uint32_t)v;
            else *(uint64_t *)p = (uint64_t)v;
        }
    }
    return 0;
}

static PyObject *list_of(const double *v, int n)
{
    PyObject *l = PyList_New(n);
    for (int i = 0; l && i < n; i++) {
        PyObject *x = PyFloat_FromDouble(v ? v[i] : 0.0);
        if (!x) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, x);
    }
    return l;
}

static PyObject *report_dict(const npu_report *r)
{
    static const char *pipes[PIPE_COUNT] = {"mte2", "vector", "scalar", "mte3"};
    PyObject *pd = PyDict_New(), *ops = PyDict_New();
    if (!pd || !ops) goto fail;
    for (int p = 0; p < PIPE_COUNT; p++) {
        PyObject *l = list_of(r->pipe[p], r->cores);
        if (!l || PyDict_SetItemString(pd, pipes[p], l) < 0) {
            Py_XDECREF(l);
            goto fail;
        }
        Py_DECREF(l);
    }
    for (int o = 0; o < OP_COUNT; o++) {
        PyObject *v = Py_BuildValue("(Kd)", (unsigned long long)r->op_count[o], r->op_cycles[o]);
        if (!v || PyDict_SetItemString(ops, enec_npu_opclass_name(o), v) < 0) {
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(v);
    }
    PyObject *cc = list_of(r->core_cycles, r->cores);
    if (!cc) goto fail;
    PyObject *res = Py_BuildValue(
        "{s:i,s:N,s:N,s:{s:d,s:d,s:d,s:d},s:d,s:d,s:d,s:K,s:K,s:K,s:K,s:K,s:i,s:i,s:I,s:N}", "cores", r->cores,
        "core_cycles", cc, "pipes", pd, "phases", "main", r->phase_cycles[0], "scan1", r->phase_cycles[1],
        "scan2", r->phase_cycles[2], "merge", r->phase_cycles[3], "device_cycles", r->device_cycles,
        "hbm_cycles", r->hbm_cycles, "kernel_cycles", r->kernel_cycles, "bytes_in",
        (unsigned long long)r->bytes_in, "bytes_out", (unsigned long long)r->bytes_out, "original_bytes",
        (unsigned long long)r->original_bytes, "stream_bytes", (unsigned long long)r->stream_bytes, "nblocks",
        (unsigned long long)r->nblocks, "slots", r->slots, "coded", r->coded, "ub_peak", (unsigned)r->ub_peak,
        "ops", ops);
    if (res) {
        PyObject *b = PyFloat_FromDouble(r->bank_extra), *q = PyFloat_FromDouble(r->queue_stall);
        if (!b || !q || PyDict_SetItemString(res, "bank_extra", b) < 0 || PyDict_SetItemString(res, "queue_stall", q) < 0)
            Py_CLEAR(res);
        Py_XDECREF(b);
        Py_XDECREF(q);
    }
    return res;
fail:
    Py_XDECREF(pd);
    Py_XDECREF(ops);
    return NULL;
}

static PyObject *raise_result(size_t code, const npu_report *r)
{
    if (r->npu_err) {
        PyErr_Format(NpuError, "enec.npu: %s", r->msg);
        return NULL;
    }
    return enec_py_raise(code, &errors, "enec.npu");
}

static PyObject *py_compress(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"data", "dtype", "itemsize", "shape", "descr", "variant", "params", "config", NULL};
    Py_buffer src = {0}, descr = {0};
    int dtype, variant;
    Py_ssize_t itemsize;
    PyObject *shape, *params = Py_None, *config = Py_None, *out = NULL, *res = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*inOy*i|OO", kwlist, &src, &dtype, &itemsize, &shape, &descr,
                                     &variant, &params, &config))
        return NULL;
    npu_config cfg;
    enec_tensor t;
    memset(&t, 0, sizeof t);
    enec_params p, *pp = NULL;
    npu_report rep;
    memset(&rep, 0, sizeof rep);
    if (config_from(config, &cfg) || enec_py_shape(shape, &t, "enec.npu")) goto done;
    if (dtype < 0 || dtype > ENEC_DTYPE_FP32 || itemsize < 1 || itemsize > 0xFFFF || descr.len > ENEC_MAX_DESCR) {
        PyErr_SetString(PyExc_ValueError, "enec.npu: bad dtype code, itemsize or description");
        goto done;
    }
    t.dtype = (enec_dtype)dtype, t.itemsize = (uint32_t)itemsize;
    t.descr = (const char *)descr.buf, t.descr_len = (uint32_t)descr.len;
    uint64_t count = 1;
    for (uint32_t i = 0; i < t.ndim; i++) count *= t.shape[i];
    if ((uint64_t)src.len != count * (uint64_t)itemsize) {
        PyErr_SetString(PyExc_ValueError, "enec.npu: buffer size does not match shape and itemsize");
        goto done;
    }
    if (params != Py_None) {
        unsigned b, n, m, L;
        if (!PyArg_ParseTuple(params, "IIII", &b, &n, &m, &L)) goto done;
        if (b > 255 || n > 255 || m > 255 || L > 255) {
            PyErr_SetString(PyExc_ValueError, "enec.npu: parameters out of range");
            goto done;
        }
        p.b = (uint8_t)b, p.n = (uint8_t)n, p.m = (uint8_t)m, p.L = (uint8_t)L, p.bits = 0;
        pp = &p;
    }
    /* A V0 container can exceed the stored size (per-group widths); give it slack. */
    size_t cap = (size_t)(48 + 8 * t.ndim + t.descr_len) + (size_t)src.len + (size_t)src.len / 4 + 4096 +
                 (size_t)(count / ENEC_BLOCK + 1) * 64;
    if (variant == 0 && enec_npu_v0_bound(&t) > cap) cap = enec_npu_v0_bound(&t);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
    if (!out) goto done;
    size_t r;
    Py_BEGIN_ALLOW_THREADS
    r = enec_npu_compress(&cfg, variant, PyBytes_AS_STRING(out), cap, src.buf, &t, pp, &rep);
    Py_END_ALLOW_THREADS
    if (enec_is_error(r)) {
        if (enec_get_error(r) == ENEC_ERR_PARAMS && !rep.npu_err)
            PyErr_SetString(PyExc_ValueError, "enec.npu: the given parameters cannot code this data (n too small)");
        else raise_result(r, &rep);
        goto done;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)r) < 0) goto done;
    PyObject *rd = report_dict(&rep);
    if (rd) res = Py_BuildValue("(ON)", out, rd);
done:
    Py_XDECREF(out);
    enec_npu_report_free(&rep);
    PyBuffer_Release(&src);
    PyBuffer_Release(&descr);
    return res;
}

static PyObject *py_decompress_into(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"data", "out", "variant", "config", NULL};
    Py_buffer src = {0}, dst = {0};
    int variant;
    PyObject *config = Py_None, *res = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*w*i|O", kwlist, &src, &dst, &variant, &config)) return NULL;
    npu_config cfg;
    npu_report rep;
    memset(&rep, 0, sizeof rep);
    if (config_from(config, &cfg) == 0) {
        size_t r;
        Py_BEGIN_ALLOW_THREADS
        r = enec_npu_decompress(&cfg, variant, dst.buf, (size_t)dst.len, src.buf, (size_t)src.len, &rep);
        Py_END_ALLOW_THREADS
        if (enec_is_error(r)) raise_result(r, &rep);
        else res = report_dict(&rep);
    }
    enec_npu_report_free(&rep);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return res;
}

static PyObject *py_v0_info(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src = {0};
    if (!PyArg_ParseTuple(args, "y*", &src)) return NULL;
    enec_tensor t;
    uint64_t count;
    size_t r = enec_npu_v0_info(src.buf, (size_t)src.len, &t, &count);
    if (enec_is_error(r)) {
        /* Name the likely mistake: a damaged V0 container, or another stream given to v0. */
        const uint8_t *s = (const uint8_t *)src.buf;
        if (src.len >= 5 && !memcmp(s, "ENV0", 4) && s[4] == 1)
            PyErr_SetString(errors.corrupt, "enec.npu: V0 container version 1 (the earlier bit-plane V0) is no "
                                              "longer read: compress the tensor with v0 again");
        else if (src.len >= 4 && !memcmp(s, "ENV0", 4))
            PyErr_SetString(errors.corrupt, "enec.npu: damaged V0 container (header or block table)");
        else
            PyErr_SetString(errors.corrupt, "enec.npu: not a V0 container (v0 reads only what "
                                              "compress(a, \"v0\") writes; decode standard streams with v1..v3)");
        PyBuffer_Release(&src);
        return NULL;
    }
    PyBuffer_Release(&src);
    PyObject *shape = PyTuple_New(t.ndim);
    for (uint32_t i = 0; shape && i < t.ndim; i++)
        PyTuple_SET_ITEM(shape, i, PyLong_FromUnsignedLongLong(t.shape[i]));
    return shape ? Py_BuildValue("{s:i,s:I,s:N,s:K}", "dtype", (int)t.dtype, "itemsize", t.itemsize, "shape",
                                 shape, "count", (unsigned long long)count)
                 : NULL;
}

static PyObject *py_default_config(PyObject *self, PyObject *noargs)
{
    (void)self, (void)noargs;
    npu_config c;
    enec_npu_config_default(&c);
    return config_to_dict(&c);
}

static PyObject *py_probe(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name;
    long long arg;
    PyObject *config = Py_None;
    if (!PyArg_ParseTuple(args, "sL|O", &name, &arg, &config)) return NULL;
    npu_config cfg;
    if (config_from(config, &cfg)) return NULL;
    char msg[200];
    double vc = 0;
    int e = enec_npu_probe(&cfg, name, arg, msg, sizeof msg, &vc);
    if (e) {
        PyErr_Format(NpuError, "enec.npu: %s", msg);
        return NULL;
    }
    return PyFloat_FromDouble(vc);
}

static PyMethodDef methods[] = {
    {"compress", (PyCFunction)(void (*)(void))py_compress, METH_VARARGS | METH_KEYWORDS,
     "compress(data, dtype, itemsize, shape, descr, variant, params=None, config=None) -> (bytes, report)"},
    {"decompress_into", (PyCFunction)(void (*)(void))py_decompress_into, METH_VARARGS | METH_KEYWORDS,
     "decompress_into(data, out, variant, config=None) -> report"},
    {"v0_info", py_v0_info, METH_VARARGS, "v0_info(data) -> dict of the V0 container's tensor"},
    {"default_config", py_default_config, METH_NOARGS, "the device model's default parameters"},
    {"probe", py_probe, METH_VARARGS, "probe(name, arg, config=None): run a rule-exercising kernel"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_npu", "simulated Ascend NPU backend", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__npu(void)
{
    PyObject *core = PyImport_ImportModule("enec._enec");
    if (!core) return NULL;
    errors.corrupt = PyObject_GetAttrString(core, "CorruptDataError");
    errors.unsupported = PyObject_GetAttrString(core, "UnsupportedFormatError");
    Py_DECREF(core);
    if (!errors.corrupt || !errors.unsupported) return NULL;
    PyObject *mod = PyModule_Create(&module);
    if (!mod) return NULL;
    NpuError = PyErr_NewExceptionWithDoc("enec.npu.NpuError",
                                         "The simulated device refused a kernel: a Unified Buffer overflow, a "
                                         "misaligned operand or DMA, or the same-segment rule.",
                                         PyExc_RuntimeError, NULL);
    if (!NpuError || PyModule_AddObject(mod, "NpuError", NpuError) < 0) {
        Py_XDECREF(NpuError);
        Py_DECREF(mod);
        return NULL;
    }
    Py_INCREF(NpuError);
    return mod;
}
