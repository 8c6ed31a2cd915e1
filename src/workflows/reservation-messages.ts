/**
 * @module Messages of a workflow that holds a reservation (a chain after its job, or a
 * loan): extend or release it (an update, so the API hears a refusal at once), and read it.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Reservation } from '../domain/reservation.js';

export type ReservationChange = { action: 'extend'; byMs: number; by: string } | { action: 'release'; by: string };

/** Extends (within the cap) or releases the reservation; fails NotReserved or ReservationCap. */
export const changeReservationUpdate = defineUpdate<Reservation, [ReservationChange]>('changeReservation');
export const reservationQuery = defineQuery<Reservation | null>('reservation');
