/* Weight gradient of a depthwise 2-d convolution on channels-last (N, H, W, C) tensors.
 *
 *   grad_weight[c][i][j] = sum over n, oh, ow of
 *       grad_out[n][oh][ow][c] * x[n][oh * sh - ph + i][ow * sw - pw + j][c]
 *
 * (taps that fall into the zero padding add nothing). oneDNN computes this 5-10x slower than
 * its forward pass on CPUs (docs/benchmark.md); here the innermost loop runs over the
 * contiguous channels, so each tap is one vectorised multiply-add of two rows held in cache.
 * Rows of grad_out are split between threads, each summing into its own buffer, and the
 * buffers are added in thread order: the result depends on the thread count only.
 * Built and loaded by emo_mm/ops/native.py; no torch headers, plain C with OpenMP.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define EMO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EMO_CLONES
#endif

#define DEFINE_DW_WGRAD(NAME, T)                                                              \
  EMO_CLONES static void NAME##_rows(const T *x, const T *go, T *acc, int64_t r0, int64_t r1, \
                                     int64_t H, int64_t W, int64_t C, int64_t Ho, int64_t Wo, \
                                     int64_t kh, int64_t kw, int64_t sh, int64_t sw,         \
                                     int64_t ph, int64_t pw) {                               \
    for (int64_t r = r0; r < r1; ++r) {                                                       \
      const int64_t n = r / Ho, oh = r % Ho;                                                  \
      const T *go_row = go + r * Wo * C;                                                      \
      for (int64_t i = 0; i < kh; ++i) {                                                      \
        const int64_t ih = oh * sh - ph + i;                                                  \
        if (ih < 0 || ih >= H) continue;                                                      \
        const T *x_row = x + (n * H + ih) * W * C;                                            \
        for (int64_t j = 0; j < kw; ++j) {                                                    \
          T *a = acc + (i * kw + j) * C;                                                      \
          /* output columns whose tap j lies inside the row: 0 <= ow * sw - pw + j < W */     \
          int64_t ow0 = pw - j > 0 ? (pw - j + sw - 1) / sw : 0;                              \
          int64_t ow1 = (W - 1 + pw - j) / sw + 1;                                            \
          if (W - 1 + pw - j < 0) ow1 = 0;                                                    \
          if (ow1 > Wo) ow1 = Wo;                                                             \
          for (int64_t ow = ow0; ow < ow1; ++ow) {                                            \
            const T *g = go_row + ow * C;                                                     \
            const T *xv = x_row + (ow * sw - pw + j) * C;                                     \
            for (int64_t c = 0; c < C; ++c) a[c] += g[c] * xv[c];                             \
          }                                                                                   \
        }                                                                                     \
      }                                                                                       \
    }                                                                                         \
  }                                                                                           \
                                                                                              \
  int NAME(const T *x, const T *go, T *grad_weight, int64_t N, int64_t H, int64_t W,          \
           int64_t C, int64_t Ho, int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw, \
           int64_t ph, int64_t pw, int threads) {                                             \
    const int64_t taps = kh * kw, rows = N * Ho;                                              \
    if (threads < 1) threads = 1;                                                             \
    if (threads > rows) threads = rows > 0 ? (int)rows : 1;                                   \
    T *acc = (T *)calloc((size_t)threads * taps * C, sizeof(T));                              \
    if (!acc) return 1;                                                                       \
    _Pragma("omp parallel for num_threads(threads) schedule(static, 1)")                      \
    for (int t = 0; t < threads; ++t)                                                         \
      NAME##_rows(x, go, acc + (int64_t)t * taps * C, rows * t / threads,                     \
                  rows * (t + 1) / threads, H, W, C, Ho, Wo, kh, kw, sh, sw, ph, pw);         \
    for (int64_t c = 0; c < C; ++c)                                                           \
      for (int64_t tap = 0; tap < taps; ++tap) {                                              \
        T sum = 0;                                                                            \
        for (int t = 0; t < threads; ++t) sum += acc[((int64_t)t * taps + tap) * C + c];      \
        grad_weight[c * taps + tap] = sum;                                                    \
      }                                                                                       \
    free(acc);                                                                                \
    return 0;                                                                                 \
  }

DEFINE_DW_WGRAD(emo_depthwise_wgrad_f32, float)
DEFINE_DW_WGRAD(emo_depthwise_wgrad_f64, double)
