/* The two per-client loops of an audience export in C, a batch's column(s) at a time: the speed
 * trick that keeps Meta's export within its target in bench/audience_export.py (compare --no-native).
 *
 * - sha256_hex_batch: the common case of audiences.exports.normalize's emails_sha256 and
 *   phones_sha256 (strip, lowercase and check an email, or take an E.164 phone, then hash);
 * - csv_lines: the CSV line of each row of a batch's columns (audiences.exports.base.csv_lines).
 *
 * Only the common case is handled here: ASCII emails, E.164 phones, ASCII cells that need no
 * quoting. For anything else the result is None and the caller applies the Python rule to that
 * value or row: the rules themselves are stated in Python only, and tests/audiences compare both
 * on awkward data (test_normalize.py, test_platforms.py, test_writer.py).
 */
#define PY_SSIZE_T_CLEAN
/* SHA256_Init/Update/Final: OpenSSL 3's one-shot SHA256() fetches the algorithm again on every
 * call, which costs more than the hash of a short value; the low-level calls, deprecated, do not. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>
#include <openssl/sha.h>
#include <string.h>

enum kind { EMAIL = 0, GOOGLE_EMAIL = 1, PHONE = 2, PHONE_PLUS = 3 };

#define BUFFER 512

/* str.strip()'s whitespace among ASCII characters: \t \n \v \f \r, \x1c-\x1f and the space. */
static int is_space(unsigned char c) { return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20); }

static PyObject *hex_sha256(const unsigned char *data, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, size);
    SHA256_Final(digest, &context);
    PyObject *text = PyUnicode_New(2 * SHA256_DIGEST_LENGTH, 127);
    if (text == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 15];
    }
    return text;
}

/* email_sha256 / google_email_sha256: strip, lowercase, "" unless something is on both sides of
 * the last "@"; Google's gmail.com and googlemail.com lose the local part's dots and +tag. */
static PyObject *email_hash(const unsigned char *value, Py_ssize_t size, int google, PyObject *empty)
{
    Py_ssize_t start = 0, end = size;
    while (start < end && is_space(value[start]))
        start++;
    while (end > start && is_space(value[end - 1]))
        end--;
    Py_ssize_t length = end - start, at = -1;
    if (length > BUFFER)
        Py_RETURN_NONE;
    unsigned char address[BUFFER];
    for (Py_ssize_t i = 0; i < length; i++) {
        unsigned char c = value[start + i];
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        else if (c == '@')
            at = i;
        address[i] = c;
    }
    if (at < 1 || at == length - 1)
        return Py_NewRef(empty);
    if (google) {
        const unsigned char *domain = address + at + 1;
        Py_ssize_t domain_size = length - at - 1;
        if ((domain_size == 9 && memcmp(domain, "gmail.com", 9) == 0) ||
            (domain_size == 14 && memcmp(domain, "googlemail.com", 14) == 0)) {
            unsigned char canonical[BUFFER];
            Py_ssize_t kept = 0;
            for (Py_ssize_t i = 0; i < at && address[i] != '+'; i++)
                if (address[i] != '.')
                    canonical[kept++] = address[i];
            if (kept == 0)
                return Py_NewRef(empty);
            memcpy(canonical + kept, address + at, length - at);
            return hex_sha256(canonical, kept + length - at);
        }
    }
    return hex_sha256(address, length);
}

/* phone_sha256 / phone_plus_sha256 for the E.164 form: "+", then 8 to 15 digits, the first not 0. */
static PyObject *phone_hash(const unsigned char *value, Py_ssize_t size, int plus)
{
    if (size < 9 || size > 16 || value[0] != '+' || value[1] < '1' || value[1] > '9')
        Py_RETURN_NONE;
    for (Py_ssize_t i = 2; i < size; i++)
        if (value[i] < '0' || value[i] > '9')
            Py_RETURN_NONE;
    return plus ? hex_sha256(value, size) : hex_sha256(value + 1, size - 1);
}

static PyObject *sha256_hex_batch(PyObject *module, PyObject *args)
{
    PyObject *values;
    int kind;
    if (!PyArg_ParseTuple(args, "Oi:sha256_hex_batch", &values, &kind))
        return NULL;
    if (kind < EMAIL || kind > PHONE_PLUS)
        return PyErr_Format(PyExc_ValueError, "unknown kind %d", kind);
    /* A tuple (the formatters' columns are, as is) so that nothing run meanwhile (a garbage
     * collection in PyList_New, say) can change the values under the loop. */
    PyObject *sequence = PySequence_Tuple(values);
    if (sequence == NULL)
        return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(sequence);
    PyObject **items = &PyTuple_GET_ITEM(sequence, 0);
    PyObject *empty = PyUnicode_New(0, 0);
    PyObject *result = PyList_New(count);
    if (empty == NULL || result == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = items[i], *digest;
        if (!PyUnicode_CheckExact(item) || !PyUnicode_IS_ASCII(item))
            digest = Py_NewRef(Py_None); /* the Python rule decides (a str subclass may strip its own way) */
        else if (PyUnicode_GET_LENGTH(item) == 0)
            digest = Py_NewRef(empty); /* no identifier is not a hash */
        else if (kind == EMAIL || kind == GOOGLE_EMAIL)
            digest = email_hash(PyUnicode_1BYTE_DATA(item), PyUnicode_GET_LENGTH(item), kind == GOOGLE_EMAIL, empty);
        else
            digest = phone_hash(PyUnicode_1BYTE_DATA(item), PyUnicode_GET_LENGTH(item), kind == PHONE_PLUS);
        if (digest == NULL)
            goto fail;
        PyList_SET_ITEM(result, i, digest);
    }
    Py_DECREF(empty);
    Py_DECREF(sequence);
    return result;
fail:
    Py_XDECREF(result);
    Py_XDECREF(empty);
    Py_DECREF(sequence);
    return NULL;
}

/* Whether a line's cells hold what the csv module would quote: a comma other than the `commas`
 * separators, a quote or a line break before the line end. memchr scans many bytes per step,
 * where a loop over the bytes was slower than str.join itself. */
static int needs_quotes(const Py_UCS1 *line, Py_ssize_t size, Py_ssize_t commas)
{
    if (memchr(line, '"', size) || memchr(line, '\r', size) || memchr(line, '\n', size - 1))
        return 1;
    for (const Py_UCS1 *at = line, *end = line + size; (at = memchr(at, ',', end - at)) != NULL; at++)
        if (--commas < 0)
            return 1;
    return 0;
}

/* One line: the cells joined by "," and ended by "\n", or None if a cell is not a plain ASCII str. */
static PyObject *csv_line(PyObject **cells, Py_ssize_t width)
{
    Py_ssize_t size = width; /* the commas and the line end */
    for (Py_ssize_t j = 0; j < width; j++) {
        if (!PyUnicode_CheckExact(cells[j]) || !PyUnicode_IS_ASCII(cells[j]))
            Py_RETURN_NONE;
        size += PyUnicode_GET_LENGTH(cells[j]);
    }
    if (width == 1 && size == 1)
        Py_RETURN_NONE; /* a lone empty cell: the csv module writes "" */
    PyObject *line = PyUnicode_New(size, 127);
    if (line == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(line);
    for (Py_ssize_t j = 0; j < width; j++) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(cells[j]);
        memcpy(out, PyUnicode_1BYTE_DATA(cells[j]), length);
        out += length;
        *out++ = j + 1 < width ? ',' : '\n';
    }
    if (needs_quotes(PyUnicode_1BYTE_DATA(line), size, width - 1)) {
        Py_DECREF(line);
        Py_RETURN_NONE;
    }
    return line;
}

static PyObject *csv_lines(PyObject *module, PyObject *columns_argument)
{
    /* Tuples all (the columns given as tuples are taken as they are, lists are copied): converting
     * a column may run Python code, which must not be able to change a column already counted. */
    PyObject *columns = PySequence_Tuple(columns_argument);
    if (columns == NULL)
        return NULL;
    Py_ssize_t width = PyTuple_GET_SIZE(columns), count = 0;
    if (width == 0) {
        Py_DECREF(columns);
        PyErr_SetString(PyExc_ValueError, "csv_lines needs at least one column");
        return NULL;
    }
    PyObject **tuples = PyMem_Calloc(width, sizeof(PyObject *));
    PyObject **cells = PyMem_Calloc(width, sizeof(PyObject *));
    PyObject *result = NULL;
    if (tuples == NULL || cells == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < width; j++) {
        tuples[j] = PySequence_Tuple(PyTuple_GET_ITEM(columns, j));
        if (tuples[j] == NULL)
            goto done;
        Py_ssize_t size = PyTuple_GET_SIZE(tuples[j]);
        if (j > 0 && size != count) {
            PyErr_SetString(PyExc_ValueError, "csv_lines: the columns differ in length");
            goto done;
        }
        count = size;
    }
    result = PyList_New(count);
    if (result == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        for (Py_ssize_t j = 0; j < width; j++)
            cells[j] = PyTuple_GET_ITEM(tuples[j], i);
        PyObject *line = csv_line(cells, width);
        if (line == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, line);
    }
done:
    if (tuples != NULL)
        for (Py_ssize_t j = 0; j < width; j++)
            Py_XDECREF(tuples[j]);
    PyMem_Free(tuples);
    PyMem_Free(cells);
    Py_DECREF(columns);
    return result;
}

static PyMethodDef methods[] = {
    {"sha256_hex_batch", sha256_hex_batch, METH_VARARGS,
     "sha256_hex_batch(values, kind) -> list: each value's hex SHA-256 after normalising by `kind` "
     "(0 email, 1 Google email, 2 phone digits, 3 phone with +), \"\" for no identifier, None where "
     "the Python rule must decide (anything but a plain ASCII str)."},
    {"csv_lines", csv_lines, METH_O,
     "csv_lines(columns) -> list: for each row of the columns (sequences of equal length), its cells "
     "joined by \",\" with a \"\\n\" at the end; None where the csv module's rules must decide (a cell "
     "not a plain ASCII str or needing quotes, a lone empty cell)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "audience_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit_audience_speedups(void) { return PyModule_Create(&module); }
