/* reader.c - parses a .ptl image (format.h). Every offset, size, count and id is
 * checked before use: a corrupt or truncated file gives PTL_ERR_CORRUPT_FILE with
 * a message saying what is wrong and where, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* ---- metadata ---------------------------------------------------------------- */
ptl_status ptl_meta_set(ptl_meta *m, const char *key, const void *value, size_t size) {
  for (int32_t i = 0; i < m->count; i++)
    if (strcmp(m->entries[i].key, key) == 0) {
      uint8_t *v = malloc(size ? size : 1);
      if (!v)
        return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory storing metadata");
      memcpy(v, value, size);
      free(m->entries[i].value);
      m->entries[i].value = v;
      m->entries[i].size = size;
      return PTL_OK;
    }
  if (m->count == m->cap) {
    int32_t cap = m->cap ? m->cap * 2 : 8;
    ptl_meta_entry *e = realloc(m->entries, sizeof *e * (size_t)cap);
    if (!e)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory storing metadata");
    m->entries = e;
    m->cap = cap;
  }
  ptl_meta_entry *e = &m->entries[m->count];
  e->key = strdup(key);
  e->value = malloc(size ? size : 1);
  if (!e->key || !e->value) {
    free(e->key);
    free(e->value);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory storing metadata");
  }
  memcpy(e->value, value, size);
  e->size = size;
  m->count++;
  return PTL_OK;
}

const ptl_meta_entry *ptl_meta_get(const ptl_meta *m, const char *key) {
  for (int32_t i = 0; i < m->count; i++)
    if (strcmp(m->entries[i].key, key) == 0)
      return &m->entries[i];
  return NULL;
}

void ptl_meta_clear(ptl_meta *m) {
  for (int32_t i = 0; i < m->count; i++) {
    free(m->entries[i].key);
    free(m->entries[i].value);
  }
  free(m->entries);
  memset(m, 0, sizeof *m);
}

/* ---- bounded little-endian cursor ---------------------------------------------- */
typedef struct {
  const uint8_t *p;
  size_t size, pos;
  const char *section;
  size_t base; /* file offset of p[0], for messages */
  bool bad;
} cursor;

static const uint8_t *take(cursor *c, size_t n) {
  if (c->bad || n > c->size - c->pos) {
    c->bad = true;
    return NULL;
  }
  const uint8_t *r = c->p + c->pos;
  c->pos += n;
  return r;
}

static uint64_t get_le(cursor *c, int bytes) {
  const uint8_t *p = take(c, (size_t)bytes);
  uint64_t v = 0;
  for (int i = 0; p && i < bytes; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static ptl_status truncated(const cursor *c, const char *what) {
  return ptl_error(PTL_ERR_CORRUPT_FILE,
                   "corrupt .ptl file: %s section ends inside %s (section offset %zu, size %zu)",
                   c->section, what, c->base, c->size);
}

/* Reads a length-prefixed string into a new allocation (NULL for empty). */
static ptl_status get_str(cursor *c, char **out, const char *what) {
  uint32_t n = (uint32_t)get_le(c, 4);
  const uint8_t *p = take(c, n);
  if (c->bad)
    return truncated(c, what);
  *out = NULL;
  if (n == 0)
    return PTL_OK;
  *out = malloc((size_t)n + 1);
  if (!*out)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory reading %s", what);
  memcpy(*out, p, n);
  (*out)[n] = 0;
  return PTL_OK;
}

/* ---- sections ------------------------------------------------------------------ */
typedef struct {
  uint32_t kind;
  uint64_t offset, size;
  uint32_t crc;
} section;

static const char *section_name(uint32_t kind) {
  switch (kind) {
  case PTL_SECTION_GRAPH: return "graph";
  case PTL_SECTION_METADATA: return "metadata";
  case PTL_SECTION_WEIGHTS: return "weights";
  default: return "unknown";
  }
}

static ptl_status read_header(const uint8_t *data, size_t size, section *secs, int *n_secs,
                              uint32_t *flags_out) {
  if (size < PTL_HEADER_SIZE)
    return ptl_error(PTL_ERR_CORRUPT_FILE,
                     "not a .ptl file: %zu bytes is shorter than the %d-byte header", size,
                     PTL_HEADER_SIZE);
  if (memcmp(data, PTL_FILE_MAGIC, 8) != 0)
    return ptl_error(PTL_ERR_CORRUPT_FILE, "not a .ptl file: bad magic bytes at offset 0");
  cursor c = {data, size, 8, "header", 0, false};
  uint32_t major = (uint32_t)get_le(&c, 2), minor = (uint32_t)get_le(&c, 2);
  if (major > PTL_FORMAT_MAJOR)
    return ptl_error(PTL_ERR_VERSION,
                     "the file has .ptl format version %u.%u, newer than this runtime supports "
                     "(1.0 to %d.%d, ptlite %s); upgrade ptlite to load it",
                     major, minor, PTL_FORMAT_MAJOR, PTL_FORMAT_MINOR, ptl_version());
  if (major == 0)
    return ptl_error(PTL_ERR_CORRUPT_FILE, "corrupt .ptl file: format version 0.%u", minor);
  uint32_t flags = (uint32_t)get_le(&c, 4);
  uint32_t count = (uint32_t)get_le(&c, 4);
  uint32_t header_crc = (uint32_t)get_le(&c, 4);
  uint64_t file_size = get_le(&c, 8);
  if (file_size != size)
    return ptl_error(PTL_ERR_CORRUPT_FILE,
                     "corrupt .ptl file: the header records %llu bytes but the file has %zu "
                     "(truncated or appended to)",
                     (unsigned long long)file_size, size);
  if (count == 0 || count > PTL_MAX_SECTIONS)
    return ptl_error(PTL_ERR_CORRUPT_FILE, "corrupt .ptl file: %u sections (expected 1 to %d)",
                     count, PTL_MAX_SECTIONS);
  size_t table_end = PTL_HEADER_SIZE + (size_t)count * PTL_SECTION_ENTRY_SIZE;
  if (table_end > size)
    return ptl_error(PTL_ERR_CORRUPT_FILE, "corrupt .ptl file: section table past end of file");
  uint8_t head[PTL_HEADER_SIZE + PTL_MAX_SECTIONS * PTL_SECTION_ENTRY_SIZE];
  memcpy(head, data, table_end);
  memset(head + 20, 0, 4);
  if (ptl_crc32(0, head, table_end) != header_crc)
    return ptl_error(PTL_ERR_CORRUPT_FILE,
                     "corrupt .ptl file: header or section table checksum mismatch (bytes 0 to "
                     "%zu)",
                     table_end);
  /* Checked after the CRC, so a flipped bit reads as corruption, not as a feature.
   * 1.0 wrote 0 here; from 1.1 on a set bit is a feature the file needs. */
  if (flags & ~PTL_FILE_KNOWN_FLAGS)
    return ptl_error(PTL_ERR_VERSION,
                     "the .ptl file (format version %u.%u) needs format features (flags 0x%x) "
                     "that this runtime (format %d.%d, ptlite %s) does not know; upgrade ptlite "
                     "to load it",
                     major, minor, flags & ~PTL_FILE_KNOWN_FLAGS, PTL_FORMAT_MAJOR,
                     PTL_FORMAT_MINOR, ptl_version());
  if (flags && major == 1 && minor == 0)
    return ptl_error(PTL_ERR_CORRUPT_FILE,
                     "corrupt .ptl file: format 1.0 has no header flags, found 0x%x", flags);
  *flags_out = flags;
  c.pos = PTL_HEADER_SIZE;
  for (uint32_t i = 0; i < count; i++) {
    section *s = &secs[i];
    s->kind = (uint32_t)get_le(&c, 4);
    (void)get_le(&c, 4);
    s->offset = get_le(&c, 8);
    s->size = get_le(&c, 8);
    s->crc = (uint32_t)get_le(&c, 4);
    (void)get_le(&c, 4);
    if (s->offset % PTL_FILE_ALIGN || s->offset < table_end || s->offset > size ||
        s->size > size - s->offset)
      return ptl_error(PTL_ERR_CORRUPT_FILE,
                       "corrupt .ptl file: %s section at offset %llu size %llu lies outside the "
                       "%zu-byte file or is misaligned",
                       section_name(s->kind), (unsigned long long)s->offset,
                       (unsigned long long)s->size, size);
    if (ptl_crc32(0, data + s->offset, (size_t)s->size) != s->crc)
      return ptl_error(PTL_ERR_CORRUPT_FILE,
                       "corrupt .ptl file: %s section (offset %llu, %llu bytes) checksum "
                       "mismatch",
                       section_name(s->kind), (unsigned long long)s->offset,
                       (unsigned long long)s->size);
  }
  /* Bytes outside every section (alignment padding) must be zero, so that no
   * byte of the file goes unchecked. */
  size_t pos = table_end;
  while (pos < size) {
    size_t next = size, next_end = size;
    for (uint32_t i = 0; i < count; i++)
      if (secs[i].offset >= pos && secs[i].offset < next) {
        next = (size_t)secs[i].offset;
        next_end = (size_t)(secs[i].offset + secs[i].size);
      }
    for (size_t k = pos; k < next; k++)
      if (data[k] != 0)
        return ptl_error(PTL_ERR_CORRUPT_FILE,
                         "corrupt .ptl file: non-zero padding byte at offset %zu", k);
    if (next == size)
      break;
    pos = next_end > next ? next_end : next + 1;
  }
  *n_secs = (int)count;
  return PTL_OK;
}

static const section *find_section(const section *secs, int n, uint32_t kind) {
  for (int i = 0; i < n; i++)
    if (secs[i].kind == kind)
      return &secs[i];
  return NULL;
}

static ptl_status read_meta(const uint8_t *data, const section *s, ptl_meta *meta) {
  cursor c = {data + s->offset, (size_t)s->size, 0, "metadata", (size_t)s->offset, false};
  uint32_t count = (uint32_t)get_le(&c, 4);
  if (c.bad || count > s->size / 12)
    return ptl_error(PTL_ERR_CORRUPT_FILE, "corrupt .ptl file: metadata count %u is impossible",
                     count);
  for (uint32_t i = 0; i < count; i++) {
    char *key;
    PTL_CHECK(get_str(&c, &key, "a metadata key"));
    uint64_t n = get_le(&c, 8);
    const uint8_t *v = take(&c, (size_t)n);
    if (c.bad || !key) {
      free(key);
      return truncated(&c, "a metadata value");
    }
    ptl_status st = ptl_meta_set(meta, key, v, (size_t)n);
    free(key);
    PTL_CHECK(st);
  }
  return PTL_OK;
}

typedef struct {
  const ptl_format_owner *owner;
} borrow_ctx;

static void owner_release(void *ctx) {
  const ptl_format_owner *o = ctx;
  if (o && o->release)
    o->release(o->ctx);
}

/* ---- quantization parameters (format 1.1) -------------------------------------- */
ptl_status ptl_format_check_qparams(ptl_status status, const char *prefix, int32_t id,
                                    const char *name, ptl_dtype dtype, int ndim,
                                    const int64_t *shape, uint32_t scheme, int64_t axis,
                                    int64_t count, const float *scale, const int32_t *zero_point) {
  const char *nm = name ? name : "unnamed";
  bool per_channel =
      scheme == PTL_QSCHEME_PER_CHANNEL_AFFINE || scheme == PTL_QSCHEME_PER_CHANNEL_SYMMETRIC;
  if (!ptl_dtype_is_quantized(dtype))
    return ptl_error(status,
                     "%s: value %d (%s) is %s, not a quantized dtype, but has quantization "
                     "parameters",
                     prefix, id, nm, ptl_dtype_name(dtype));
  if (scheme < PTL_QSCHEME_PER_TENSOR_AFFINE || scheme > PTL_QSCHEME_PER_CHANNEL_SYMMETRIC)
    return ptl_error(status, "%s: value %d (%s) has unknown quantization scheme %u", prefix, id, nm,
                     scheme);
  if (!per_channel && (axis != 0 || count != 1))
    return ptl_error(status,
                     "%s: value %d (%s) is quantized per tensor but has axis %lld and %lld "
                     "scales (expected axis 0 and 1 scale)",
                     prefix, id, nm, (long long)axis, (long long)count);
  if (per_channel && (axis < 0 || axis >= ndim))
    return ptl_error(status,
                     "%s: value %d (%s) is quantized per channel along axis %lld, outside its %d "
                     "dims",
                     prefix, id, nm, (long long)axis, ndim);
  if (per_channel && count != shape[axis])
    return ptl_error(status,
                     "%s: value %d (%s) has %lld per-channel scales but dim %lld has size %lld",
                     prefix, id, nm, (long long)count, (long long)axis, (long long)shape[axis]);
  int64_t qmin = dtype == PTL_QUINT8 ? 0 : dtype == PTL_QINT8 ? -128 : INT32_MIN;
  int64_t qmax = dtype == PTL_QUINT8 ? 255 : dtype == PTL_QINT8 ? 127 : INT32_MAX;
  for (int64_t k = 0; k < count; k++) {
    /* NaN fails the comparison too */
    if (!(scale[k] > 0.0f && scale[k] <= 3.402823466e38f))
      return ptl_error(status,
                       "%s: value %d (%s) has quantization scale %g at index %lld; scales must "
                       "be positive and finite",
                       prefix, id, nm, (double)scale[k], (long long)k);
    if (zero_point[k] < qmin || zero_point[k] > qmax)
      return ptl_error(status,
                       "%s: value %d (%s) has zero point %d at index %lld, outside the %s range "
                       "[%lld, %lld]",
                       prefix, id, nm, (int)zero_point[k], (long long)k, ptl_dtype_name(dtype),
                       (long long)qmin, (long long)qmax);
  }
  return PTL_OK;
}

/* Reads the quantization record that follows value `id` and attaches it to the
 * constant (see docs/format.md, "Quantization record"). */
static ptl_status read_qparams(cursor *c, uint32_t id, const char *name, ptl_dtype dtype, int ndim,
                               const int64_t *shape, ptl_tensor *constant) {
  uint8_t tag = (uint8_t)get_le(c, 1), scheme = (uint8_t)get_le(c, 1);
  uint16_t rflags = (uint16_t)get_le(c, 2);
  int32_t axis = (int32_t)(uint32_t)get_le(c, 4);
  uint32_t count = (uint32_t)get_le(c, 4);
  if (c->bad)
    return truncated(c, "a quantization record");
  if (tag != PTL_QPARAMS_TAG || (rflags & ~PTL_QPARAMS_ZERO_ZPS) != 0)
    return ptl_error(PTL_ERR_CORRUPT_FILE,
                     "corrupt .ptl file: value %u (%s) has a malformed quantization record (tag "
                     "0x%02x)",
                     id, name ? name : "unnamed", tag);
  bool zero_zps = (rflags & PTL_QPARAMS_ZERO_ZPS) != 0;
  /* bound the count by the bytes left before allocating for it */
  if ((uint64_t)count * (zero_zps ? 4 : 8) > c->size - c->pos)
    return truncated(c, "a quantization record");
  float *scale = malloc(sizeof(float) * (count ? count : 1));
  int32_t *zp = malloc(sizeof(int32_t) * (count ? count : 1));
  if (!scale || !zp) {
    free(scale);
    free(zp);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory reading quantization parameters");
  }
  for (uint32_t k = 0; k < count; k++) {
    uint32_t bits = (uint32_t)get_le(c, 4);
    memcpy(&scale[k], &bits, 4);
  }
  for (uint32_t k = 0; k < count; k++)
    zp[k] = zero_zps ? 0 : (int32_t)(uint32_t)get_le(c, 4);
  ptl_status s = ptl_format_check_qparams(PTL_ERR_CORRUPT_FILE, "corrupt .ptl file", (int32_t)id,
                                          name, dtype, ndim, shape, scheme, axis, count, scale, zp);
  if (s == PTL_OK && constant)
    s = ptl_qparams_set(constant, (ptl_qscheme)scheme, axis, count, scale, zp);
  free(scale);
  free(zp);
  return s;
}

static ptl_status read_values(cursor *c, ptl_graph *g, uint32_t n_values, const uint8_t *weights,
                              uint64_t weights_size, const ptl_format_owner *owner,
                              uint32_t file_flags) {
  for (uint32_t i = 0; i < n_values; i++) {
    uint8_t kind = (uint8_t)get_le(c, 1), dtype = (uint8_t)get_le(c, 1);
    uint8_t ndim = (uint8_t)get_le(c, 1);
    uint8_t flags = (uint8_t)get_le(c, 1);
    if (c->bad)
      return truncated(c, "a value");
    if (kind > PTL_VALUE_INTERMEDIATE || dtype >= PTL_DTYPE_COUNT || ndim > PTL_MAX_DIMS)
      return ptl_error(PTL_ERR_CORRUPT_FILE,
                       "corrupt .ptl file: value %u has kind %u, dtype %u, %u dims", i, kind, dtype,
                       ndim);
    /* only constants carry their parameters: every other quantized value gets
     * them from the op that computes it (or the caller, for inputs) on each run */
    bool has_q = flags & PTL_VALUE_FLAG_QPARAMS;
    if ((flags & ~PTL_VALUE_FLAG_QPARAMS) ||
        (has_q && (!(file_flags & PTL_FILE_FLAG_QPARAMS) || kind != PTL_VALUE_CONSTANT)))
      return ptl_error(PTL_ERR_CORRUPT_FILE,
                       "corrupt .ptl file: value %u (kind %u) has flags 0x%02x, not valid here", i,
                       kind, flags);
    int64_t shape[PTL_MAX_DIMS];
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
      shape[d] = (int64_t)get_le(c, 8);
      if (shape[d] < 0 || (shape[d] > 0 && numel > UINT64_MAX / 16 / (uint64_t)shape[d]))
        return ptl_error(PTL_ERR_CORRUPT_FILE, "corrupt .ptl file: value %u has dim %d = %lld", i,
                         d, (long long)shape[d]);
      numel *= (uint64_t)shape[d];
    }
    char *name;
    PTL_CHECK(get_str(c, &name, "a value name"));
    ptl_tensor *constant = NULL;
    ptl_status s = PTL_OK;
    if (kind == PTL_VALUE_CONSTANT) {
      uint64_t off = get_le(c, 8), nbytes = get_le(c, 8);
      size_t isz = ptl_dtype_size((ptl_dtype)dtype);
      if (c->bad)
        s = truncated(c, "a constant");
      else if (nbytes != numel * isz || off > weights_size || nbytes > weights_size - off)
        s = ptl_error(PTL_ERR_CORRUPT_FILE,
                      "corrupt .ptl file: constant %u (%s) claims %llu bytes at weights offset "
                      "%llu; expected %llu bytes inside the %llu-byte weights section",
                      i, name ? name : "unnamed", (unsigned long long)nbytes,
                      (unsigned long long)off, (unsigned long long)(numel * isz),
                      (unsigned long long)weights_size);
      else if (((uintptr_t)(weights + off)) % (isz ? isz : 1) == 0) {
        /* zero-copy: the tensor borrows the file image */
        if (owner && owner->retain)
          owner->retain(owner->ctx);
        s = ptl_tensor_create_borrowed((ptl_dtype)dtype, ndim, shape, NULL, (void *)(weights + off),
                                       owner_release, (void *)owner, &constant);
        if (s != PTL_OK && owner && owner->release)
          owner->release(owner->ctx);
      } else {
        s = ptl_tensor_create((ptl_dtype)dtype, ndim, shape, &constant);
        if (s == PTL_OK)
          memcpy(ptl_tensor_data(constant), weights + off, (size_t)nbytes);
      }
    }
    if (s == PTL_OK && has_q)
      s = read_qparams(c, i, name, (ptl_dtype)dtype, ndim, shape, constant);
    else if (s == PTL_OK && kind == PTL_VALUE_CONSTANT && ptl_dtype_is_quantized((ptl_dtype)dtype))
      s = ptl_error(PTL_ERR_CORRUPT_FILE,
                    "corrupt .ptl file: constant %u (%s) is %s but the file stores no "
                    "quantization parameters for it",
                    i, name ? name : "unnamed", ptl_dtype_name((ptl_dtype)dtype));
    ptl_tensor like = {0};
    like.dtype = (ptl_dtype)dtype;
    like.ndim = ndim;
    memcpy(like.shape, shape, sizeof(int64_t) * ndim);
    int32_t id;
    if (s == PTL_OK)
      s = ptl_graph_add_value(g, (ptl_value_kind)kind, &like, constant, name, &id);
    ptl_tensor_release(constant); /* the graph holds its own reference */
    free(name);
    PTL_CHECK(s);
  }
  return PTL_OK;
}

static ptl_status read_nodes(cursor *c, ptl_graph *g, uint32_t n_nodes) {
  for (uint32_t n = 0; n < n_nodes; n++) {
    uint32_t op = (uint32_t)get_le(c, 2), version = (uint32_t)get_le(c, 2);
    uint32_t n_in = (uint32_t)get_le(c, 1), n_out = (uint32_t)get_le(c, 1);
    ptl_attrs a = {0};
    a.n_ints = (int32_t)get_le(c, 1);
    a.n_floats = (int32_t)get_le(c, 1);
    uint32_t inplace = (uint32_t)get_le(c, 4);
    if (c->bad)
      return truncated(c, "a node");
    const ptl_op_def *def = ptl_op_lookup((ptl_op_id)op);
    if (!def)
      return ptl_error(PTL_ERR_UNSUPPORTED,
                       "node %u uses op id %u, which this runtime (ptlite %s) does not know; "
                       "the file needs a newer ptlite",
                       n, op, ptl_version());
    if ((int)version > def->version)
      return ptl_error(PTL_ERR_UNSUPPORTED,
                       "node %u uses %s version %u; this runtime (ptlite %s) has version %d", n,
                       def->name, version, ptl_version(), def->version);
    if (n_in > 64 || n_out > 4 || a.n_ints > PTL_MAX_INT_ATTRS || a.n_floats > PTL_MAX_FLOAT_ATTRS)
      return ptl_error(PTL_ERR_CORRUPT_FILE,
                       "corrupt .ptl file: node %u (%s) has %u inputs, %u outputs, %d ints, %d "
                       "floats",
                       n, def->name, n_in, n_out, a.n_ints, a.n_floats);
    int32_t in[64], out[4];
    for (uint32_t i = 0; i < n_in; i++)
      in[i] = (int32_t)get_le(c, 4);
    for (uint32_t i = 0; i < n_out; i++)
      out[i] = (int32_t)get_le(c, 4);
    for (int i = 0; i < a.n_ints; i++)
      a.ints[i] = (int64_t)get_le(c, 8);
    for (int i = 0; i < a.n_floats; i++) {
      uint64_t bits = get_le(c, 8);
      memcpy(&a.floats[i], &bits, 8);
    }
    if (c->bad)
      return truncated(c, "a node");
    PTL_CHECK(ptl_graph_add_node(g, (ptl_op_id)op, &a, in, (int)n_in, out, (int)n_out, inplace));
  }
  return PTL_OK;
}

static ptl_status read_graph(const uint8_t *data, const section *gs, const section *ws,
                             const ptl_format_owner *owner, uint32_t flags, ptl_graph *g) {
  cursor c = {data + gs->offset, (size_t)gs->size, 0, "graph", (size_t)gs->offset, false};
  uint32_t n_values = (uint32_t)get_le(&c, 4), n_nodes = (uint32_t)get_le(&c, 4);
  uint32_t n_inputs = (uint32_t)get_le(&c, 4), n_outputs = (uint32_t)get_le(&c, 4);
  if (c.bad)
    return truncated(&c, "the graph counts");
  /* each value takes >= 8 bytes and each node >= 12: bound counts by the section size */
  if (n_values > gs->size / 8 || n_nodes > gs->size / 12 || n_inputs > n_values ||
      n_outputs > n_values)
    return ptl_error(PTL_ERR_CORRUPT_FILE,
                     "corrupt .ptl file: graph counts (%u values, %u nodes, %u inputs, %u "
                     "outputs) do not fit a %llu-byte graph section",
                     n_values, n_nodes, n_inputs, n_outputs, (unsigned long long)gs->size);
  PTL_CHECK(read_values(&c, g, n_values, data + ws->offset, ws->size, owner, flags));
  PTL_CHECK(read_nodes(&c, g, n_nodes));
  for (uint32_t i = 0; i < n_inputs; i++)
    PTL_CHECK(ptl_graph_mark_input(g, (int32_t)get_le(&c, 4)));
  for (uint32_t i = 0; i < n_outputs; i++)
    PTL_CHECK(ptl_graph_mark_output(g, (int32_t)get_le(&c, 4)));
  if (c.bad)
    return truncated(&c, "the input and output lists");
  if (c.pos != c.size)
    return ptl_error(PTL_ERR_CORRUPT_FILE,
                     "corrupt .ptl file: %zu unexpected bytes after the graph (graph section "
                     "offset %zu, size %zu)",
                     c.size - c.pos, c.base, c.size);
  ptl_status s = ptl_graph_validate(g);
  if (s == PTL_ERR_CORRUPT_FILE) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ptl_last_error_message());
    return ptl_error(s, "corrupt .ptl file: %s", msg);
  }
  return s;
}

ptl_status ptl_format_read(const uint8_t *data, size_t size, const ptl_format_owner *owner,
                           ptl_graph **graph_out, ptl_meta *meta_out) {
  section secs[PTL_MAX_SECTIONS];
  int n = 0;
  uint32_t flags = 0;
  PTL_CHECK(read_header(data, size, secs, &n, &flags));
  const section *gs = find_section(secs, n, PTL_SECTION_GRAPH);
  const section *ms = find_section(secs, n, PTL_SECTION_METADATA);
  const section *ws = find_section(secs, n, PTL_SECTION_WEIGHTS);
  if (!gs || !ms || !ws)
    return ptl_error(PTL_ERR_CORRUPT_FILE, "corrupt .ptl file: the %s section is missing",
                     !gs   ? "graph"
                     : !ms ? "metadata"
                           : "weights");
  ptl_graph *g;
  PTL_CHECK(ptl_graph_create(&g));
  ptl_meta meta = {0};
  ptl_status s = read_graph(data, gs, ws, owner, flags, g);
  if (s == PTL_OK)
    s = read_meta(data, ms, &meta);
  if (s != PTL_OK) {
    ptl_graph_destroy(g);
    ptl_meta_clear(&meta);
    return s;
  }
  *graph_out = g;
  *meta_out = meta;
  return PTL_OK;
}
