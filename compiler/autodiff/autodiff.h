/* autodiff.h - derivatives by transforming IR (reverse.c; forward.c later). */
#ifndef DMLC_AUTODIFF_H
#define DMLC_AUTODIFF_H
#include "../ir.h"

/* Turn the loss function f (one scalar result) into loss_grad in place:
 * results become (loss, d_param...) for the params in f->grad_params.
 * False, with a diagnostic, if some operation has no rule yet. */
bool ad_reverse(IrFunc *f, Diags *d);

#endif
