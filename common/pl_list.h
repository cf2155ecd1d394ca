/* Intrusive doubly linked lists.

   The node carries its own link fields, named by the caller, so one node can sit in
   several lists at once (a gateway connection is in its user's list, the auth-timeout
   list and a Socket.IO timer list); the owner keeps head and tail. No allocation, O(1)
   append and unlink: the gateway uses these for FIFO timer queues where the oldest
   entry expires first. Macros rather than functions because the field names vary; each
   argument is evaluated more than once, so pass plain lvalues. */
#ifndef PL_LIST_H
#define PL_LIST_H

#include <stddef.h>

/* Appends node at the tail. */
#define PL_LIST_APPEND(head, tail, node, prev, next) \
    do {                                             \
        (node)->prev = (tail);                       \
        (node)->next = NULL;                         \
        if (tail)                                    \
            (tail)->next = (node);                   \
        else                                         \
            (head) = (node);                         \
        (tail) = (node);                             \
    } while (0)

/* True when node is in the list whose head is given (a lone head has no prev). */
#define PL_LIST_LINKED(head, node, prev) ((node)->prev != NULL || (head) == (node))

/* Unlinks node, which must be in the list, and clears its links. */
#define PL_LIST_UNLINK(head, tail, node, prev, next) \
    do {                                             \
        if ((node)->prev)                            \
            (node)->prev->next = (node)->next;       \
        else                                         \
            (head) = (node)->next;                   \
        if ((node)->next)                            \
            (node)->next->prev = (node)->prev;       \
        else                                         \
            (tail) = (node)->prev;                   \
        (node)->prev = (node)->next = NULL;          \
    } while (0)

#endif
