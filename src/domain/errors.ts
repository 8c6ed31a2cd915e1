/**
 * @module Failure types: the `type` of every ApplicationFailure Testbay throws, in one
 * place, so workflows map them to outcomes without parsing messages.
 */

export const ErrorType = {
  /** an asset download failed or its checksum did not match */
  Asset: 'TestbayAssetError',
  /** the test code could not be fetched or checked out */
  TestCode: 'TestbayTestCodeError',
  /** the host could not prepare the job's work dir */
  Provision: 'TestbayProvisionError',
  /** the host's setup is broken (found before or while taking a job) */
  BrokenSetup: 'TestbayBrokenSetup',
  /** the result store refused an upload: the lease is no longer current */
  LeaseRevoked: 'TestbayLeaseRevoked',
  /** the result store could not be reached or failed */
  Upload: 'TestbayUploadError',
  /** the host is shutting down */
  HostShutdown: 'TestbayHostShutdown',
  /** an operator's host action named a host the scheduler does not know */
  UnknownHost: 'TestbayUnknownHost',
  /** an operator's host action cannot be done in the host's state (removing a leased host) */
  HostBusy: 'TestbayHostBusy',
  /** a host did not pick up or finish a command meant for it (`testbay power` on a host that is not running) */
  HostUnreachable: 'TestbayHostUnreachable',
  /** a workflow received input it cannot work with (a bug, not an accident) */
  InvalidInput: 'TestbayInvalidInput',
  /** a barrier or message call named no job of the recipe set, or went over its limits */
  NotAPartner: 'TestbayNotAPartner',
  /** a webhook receiver or commit-status API did not take a delivery (retried by the delivery's policy) */
  Delivery: 'TestbayDeliveryError',
  /** an extension or release named a host or job that holds no reservation (any more) */
  NotReserved: 'TestbayNotReserved',
  /** an extension or a loan would hold a host longer than the server's cap */
  ReservationCap: 'TestbayReservationCap',
  /** a change of priority named a request that is not queued (any more) */
  NotQueued: 'TestbayNotQueued',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];
