/* gis.query._near — a point outside every grid, measured compiled.
 *
 * A lookup over HTTP costs the stack ~17 µs; the Python measuring a point outside every grid
 * cost as much again (issue 16).  Three loops live here; gis/query/lookup_near.py answers
 * what they leave to it:
 *
 * - measure_edges(edges, x, y): the nearest grid and its geodesic metres over a block's few
 *   packed edges by GridIndex._local's rule, the same floating-point operations in the same
 *   order as the Python it replaced (bit-identical), a grid NOT_NEARER farther on the sphere
 *   than the nearest not measured, the rest by PROJ's geod_inverse — the very function
 *   pyproj's Geod.inv calls, found in the library pyproj loaded (set_geodesic).
 * - measure_near(edges, spans, x, y, extra, out, per_edge): the same measure per edge or per
 *   grid of many (NearLists making a block's list and edges, GridIndex's full search), each
 *   geod_inverse skipped where the angle on the sphere already puts it beyond the least +
 *   extra.
 * - walk(lists, x, y, ...): the entry of a point's block (NearLists._first, then _block down
 *   the entries already made); None sends the point to the Python that makes them.
 *
 * Built with -ffp-contract=off: no fused multiply-add, so each operation rounds as Python's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_buffers.h"

/* ------------------------------------------------------------------ geodesic edges */

typedef void (*geod_init_fn)(void *g, double a, double f);
typedef void (*geod_inverse_fn)(const void *g, double lat1, double lon1, double lat2,
                                double lon2, double *s12, double *azi1, double *azi2);

/* struct geod_geodesic is 51 doubles in PROJ 6–9; room for more */
static double geodesic[128];
static geod_inverse_fn geod_inverse = NULL;

static PyObject *set_geodesic(PyObject *module, PyObject *args) {
    unsigned long long init_at, inverse_at;
    double a, f;
    if (!PyArg_ParseTuple(args, "KKdd", &init_at, &inverse_at, &a, &f)) return NULL;
    if (!init_at || !inverse_at) {
        PyErr_SetString(PyExc_ValueError, "no geod_init/geod_inverse");
        return NULL;
    }
    ((geod_init_fn)(uintptr_t)init_at)(geodesic, a, f);
    geod_inverse = (geod_inverse_fn)(uintptr_t)inverse_at;
    Py_RETURN_NONE;
}

#define DEGREE (3.14159265358979323846 / 180.0)   /* Python's math.pi / 180.0 */
#define RADIAN (180.0 / 3.14159265358979323846)   /* math.degrees' factor */

typedef struct {
    double grid, near, gx, gy;
} Best;

#define NOT_NEARER 1.02

/* A point's gnomonic frame (GridIndex's gnomonic projection centred on (x, y)) and the last
 * vertex projected: an edge starting where the one before ended reuses its projection. */
typedef struct {
    double x, y, s0, c0, end_lon, end_sin, bx, by;
} Frame;

static Frame frame_at(double x, double y) {
    double lat0 = y * DEGREE;
    return (Frame){x, y, sin(lat0), cos(lat0), NAN, NAN, 0.0, 0.0};
}

static void project(const Frame *f, double lon, double sin_lat, double cos_lat, double *px,
                    double *py) {
    double d = (lon - f->x) * DEGREE, cos_d = cos(d);
    double cos_c = f->s0 * sin_lat + f->c0 * cos_lat * cos_d;
    *px = cos_lat * sin(d) / cos_c;
    *py = (f->c0 * sin_lat - f->s0 * cos_lat * cos_d) / cos_c;
}

/* The point of a packed edge nearest the frame's centre on the sphere (gx, gy) and its
 * squared distance there (tan^2 of the angle). */
static double edge_nearest(Frame *f, const double *e, double *gx, double *gy) {
    double ax, ay;
    if (e[1] == f->end_lon && e[2] == f->end_sin) {
        ax = f->bx;
        ay = f->by;
    } else {
        project(f, e[1], e[2], e[3], &ax, &ay);
    }
    project(f, e[4], e[5], e[6], &f->bx, &f->by);
    f->end_lon = e[4];
    f->end_sin = e[5];
    double dx = f->bx - ax, dy = f->by - ay, length = dx * dx + dy * dy;
    double t = -(ax * dx + ay * dy) / (length > 0 ? length : 1.0);
    t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    *gx = ax + t * dx;
    *gy = ay + t * dy;
    return *gx * *gx + *gy * *gy;
}

/* Geodesic metres from the frame's centre to the point (gx, gy) of its plane, by PROJ. */
static double metres_to(const Frame *f, double gx, double gy) {
    double rho = hypot(gx, gy), c = atan(rho), sin_c = sin(c), cos_c = cos(c);
    double lat = asin(cos_c * f->s0 + gy * sin_c * f->c0 / (rho > 0 ? rho : 1.0));
    double lon = f->x + (atan2(gx * sin_c, rho * f->c0 * cos_c - gy * f->s0 * sin_c) * RADIAN);
    double metres, azi1, azi2;
    geod_inverse(geodesic, f->y, f->x, lat * RADIAN, lon, &metres, &azi1, &azi2);
    return metres;
}

/* The packed edges of a buffer (7 doubles an edge), or -1 with an error set. */
static Py_ssize_t packed_edges(PyObject *edges, Py_buffer *view) {
    if (PyObject_GetBuffer(edges, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    Py_ssize_t n = view->len / (Py_ssize_t)(7 * sizeof(double));
    if (view->itemsize != 8 || view->len != n * 7 * (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "edges: 7 doubles an edge");
        return -1;
    }
    return n;
}

static int point_args(PyObject *const *args, double *x, double *y) {
    if (geod_inverse == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_geodesic was not called");
        return -1;
    }
    *x = PyFloat_AsDouble(args[0]);
    *y = PyFloat_AsDouble(args[1]);
    return (*x == -1.0 || *y == -1.0) && PyErr_Occurred() ? -1 : 0;
}

static PyObject *measure_edges(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "measure_edges(edges, x, y)");
        return NULL;
    }
    double x, y;
    if (point_args(args + 1, &x, &y) < 0) return NULL;
    Py_buffer view;
    Py_ssize_t n = packed_edges(args[0], &view);
    if (n < 0) return NULL;
    const double *e = view.buf;
    Best stack[32], *best = n <= 32 ? stack : PyMem_Malloc(sizeof(Best) * (size_t)n);
    if (best == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Frame f = frame_at(x, y);
    Py_ssize_t grids = 0;
    for (Py_ssize_t i = 0; i < n; i++, e += 7) {
        double g = e[0], gx, gy, near = edge_nearest(&f, e, &gx, &gy);
        Py_ssize_t k = 0;
        while (k < grids && best[k].grid != g) k++;
        if (k == grids) {
            best[grids++] = (Best){g, near, gx, gy};
        } else if (near < best[k].near) {
            best[k] = (Best){g, near, gx, gy};
        }
    }
    PyBuffer_Release(&view);
    /* the grids in ascending order (a few: insertion sort), the least metres, the lowest
     * grid on a tie */
    for (Py_ssize_t i = 1; i < grids; i++) {
        Best item = best[i];
        Py_ssize_t j = i;
        while (j > 0 && best[j - 1].grid > item.grid) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = item;
    }
    /* A grid whose nearest point is more than NOT_NEARER farther on the sphere than the
     * nearest grid's cannot be nearer on the ellipsoid (two short distances from one point
     * scale by at most N/M = 1 + e'^2 cos^2(lat) < 1.0068 against the sphere's): not measured. */
    double least = INFINITY;
    for (Py_ssize_t i = 0; i < grids; i++) {
        double c = atan(hypot(best[i].gx, best[i].gy));
        best[i].near = c;
        least = c < least ? c : least;
    }
    double found_grid = -1.0, found_metres = INFINITY;
    for (Py_ssize_t i = 0; i < grids; i++) {
        if (best[i].near > least * NOT_NEARER) continue;
        double metres = metres_to(&f, best[i].gx, best[i].gy);
        if (metres < found_metres) {
            found_grid = best[i].grid;
            found_metres = metres;
        }
    }
    if (best != stack) PyMem_Free(best);
    return Py_BuildValue("(Ld)", (long long)found_grid, found_metres);
}

/* Metres on the ellipsoid per radian on the sphere of geodetic latitudes, at least: its
 * metric is M^2 dlat^2 + N^2 cos^2(lat) dlon^2, and M, N >= a (1 - e^2) = 6 335 439 m. */
#define LEAST_METRES_PER_RADIAN 6.33e6

static PyObject *measure_near(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "measure_near(edges, spans, x, y, extra, out, per_edge)");
        return NULL;
    }
    double x, y, extra = PyFloat_AsDouble(args[4]);
    int per_edge = PyObject_IsTrue(args[6]);
    if (point_args(args + 2, &x, &y) < 0 || (extra == -1.0 && PyErr_Occurred()) || per_edge < 0)
        return NULL;
    Py_buffer view, spans, out;
    Py_ssize_t n = packed_edges(args[0], &view);
    if (n < 0) return NULL;
    if (take(args[1], &spans, 8, "spans") < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (PyObject_GetBuffer(args[5], &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT)) {
        PyBuffer_Release(&view);
        PyBuffer_Release(&spans);
        return NULL;
    }
    const char *kind = spans.format ? spans.format + strlen(spans.format) - 1 : "B";
    const int64_t *span = spans.buf;
    Py_ssize_t count = spans.len / 16, items = 0, i0 = -1;
    const char *wrong = (*kind != 'q' && *kind != 'l') || spans.len % 16 ? "spans: int64 pairs"
                                                                          : NULL;
    for (Py_ssize_t g = 0; !wrong && g < count; g++) {
        if (span[2 * g] < 0 || span[2 * g] > span[2 * g + 1] || span[2 * g + 1] > n)
            wrong = "spans: [lo, hi) within the edges";
        items += per_edge ? span[2 * g + 1] - span[2 * g] : 1;
    }
    if (!wrong && (out.itemsize != 8 || out.format == NULL || strcmp(out.format, "d") ||
                   out.len != items * 8))
        wrong = "out: a float64 per item";
    double *metres = out.buf, *point = NULL;
    if (!wrong) point = PyMem_Malloc(sizeof(double) * 2 * (size_t)(items + 1));
    if (wrong || point == NULL) {
        if (wrong) PyErr_SetString(PyExc_ValueError, wrong);
        else PyErr_NoMemory();
        PyBuffer_Release(&view);
        PyBuffer_Release(&spans);
        PyBuffer_Release(&out);
        return NULL;
    }
    /* per item (an edge, or a span's edges) its point nearest on the sphere (the first
     * edge's on a tie) */
    Frame f = frame_at(x, y);
    const double *e = view.buf;
    for (Py_ssize_t g = 0, i = 0; g < count; g++) {
        if (!per_edge) metres[i] = INFINITY;
        for (Py_ssize_t k = span[2 * g]; k < span[2 * g + 1]; k++) {
            if (per_edge) metres[i] = INFINITY;
            double gx, gy, near = edge_nearest(&f, e + 7 * k, &gx, &gy);
            if (near < metres[i]) {
                metres[i] = near;
                point[2 * i] = gx;
                point[2 * i + 1] = gy;
            }
            if (per_edge && metres[i] < INFINITY && (i0 < 0 || metres[i] < metres[i0])) i0 = i;
            i += per_edge;
        }
        if (!per_edge && metres[i] < INFINITY && (i0 < 0 || metres[i] < metres[i0])) i0 = i;
        i += !per_edge;
    }
    PyBuffer_Release(&view);
    PyBuffer_Release(&spans);
    /* measured: the nearest on the sphere, then each item its angle does not put beyond it
     * + extra on the ellipsoid */
    double bound = i0 < 0 ? -1.0 : metres_to(&f, point[2 * i0], point[2 * i0 + 1]) + extra;
    for (Py_ssize_t i = 0; i < items; i++) {
        double angle = atan(sqrt(metres[i])); /* no edge: inf, beyond any bound */
        metres[i] = metres[i] < INFINITY && angle * LEAST_METRES_PER_RADIAN <= bound
                        ? metres_to(&f, point[2 * i], point[2 * i + 1])
                        : INFINITY;
    }
    PyMem_Free(point);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ a block's entry */

static PyObject *walk(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    double v[11];
    if (nargs != 12 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "walk(lists, x, y, bx0, by0, bx1, by1, x0, y0, size, split, far_share)");
        return NULL;
    }
    for (int i = 0; i < 11; i++) {
        v[i] = PyFloat_AsDouble(args[i + 1]);
        if (v[i] == -1.0 && PyErr_Occurred()) return NULL;
    }
    double x = v[0], y = v[1], x0 = v[6], y0 = v[7], size = v[8], split = v[9], share = v[10];
    double away = 0.0, gaps[4] = {v[2] - x, x - v[4], v[3] - y, y - v[5]};
    for (int i = 0; i < 4; i++) away = gaps[i] > away ? gaps[i] : away;
    long k = 0;
    while (k < 60 && size * pow(split, (double)(k + 1)) * share <= away) k++;
    for (int depth = 0; depth < 64; depth++) {
        double side = size * pow(split, (double)k);
        double row = floor((y - y0) / side), col = floor((x - x0) / side);
        if (!(fabs(row) < 9e15) || !(fabs(col) < 9e15)) Py_RETURN_NONE; /* NaN, huge */
        PyObject *key = Py_BuildValue("(lLL)", k, (long long)row, (long long)col);
        if (key == NULL) return NULL;
        PyObject *entry = PyDict_GetItemWithError(args[0], key); /* borrowed */
        Py_DECREF(key);
        if (entry == NULL) {
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 4) Py_RETURN_NONE;
        PyObject *below = PyTuple_GET_ITEM(entry, 1);
        if (below == Py_None) return Py_NewRef(entry);
        k = PyLong_AsLong(below);
        if (k == -1 && PyErr_Occurred()) return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"set_geodesic", set_geodesic, METH_VARARGS,
     "set_geodesic(geod_init, geod_inverse, a, f): the addresses of PROJ's functions and the "
     "ellipsoid measure_edges uses."},
    {"measure_edges", (PyCFunction)(void (*)(void))measure_edges, METH_FASTCALL,
     "measure_edges(edges, x, y) -> (grid, metres): see gis.query.lookup_near."},
    {"measure_near", (PyCFunction)(void (*)(void))measure_near, METH_FASTCALL,
     "measure_near(edges, spans, x, y, extra, out, per_edge): per edge of the spans or per "
     "span the geodesic metres to its point nearest on the sphere, where it may be within "
     "the least + extra, else inf: see gis.query.lookup_near."},
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL,
     "walk(lists, x, y, bx0, by0, bx1, by1, x0, y0, size, split, far_share) -> the entry of "
     "the point's block "
     "when every block down to it has one, else None: see gis.query.lookup_near."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_near",
                                    "A point outside every grid, measured compiled.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__near(void) { return PyModule_Create(&module); }
