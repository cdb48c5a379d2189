//! The end-to-end encryption requests on [`Client`].

use natter_api::{
    ClaimedKey, ClientMsgId, DeviceCiphertext, DeviceKeys, Request, Response, Sent, UserInfo,
};

use crate::client::unexpected;
use crate::driver::Cmd;
use crate::{Client, ClientError};

impl Client {
    /// Publishes this connection's device and keys (a
    /// [`crate::e2e::E2eDevice::publish_request`]). From then on, this
    /// client's sync and live stream — also after reconnecting — carry the
    /// device's ciphertexts.
    pub async fn publish_keys(&self, request: Request) -> Result<(), ClientError> {
        let device = match &request {
            Request::PublishKeys { device, .. } => device.curve25519.clone(),
            _ => return Err(ClientError::Unexpected("not publish_keys".into())),
        };
        match self.request(request).await? {
            Response::Done => {
                self.set_e2e_device(Some(device)).await;
                Ok(())
            }
            other => Err(unexpected(other)),
        }
    }

    /// Names the device whose ciphertexts the next login, resume or
    /// reconnect asks for (it must have been published by this user).
    pub async fn set_e2e_device(&self, device: Option<String>) {
        let _ = self.cmds.send(Box::new(Cmd::E2eDevice(device))).await;
    }

    /// The published devices of `user`.
    pub async fn devices(&self, user: &str) -> Result<(UserInfo, Vec<DeviceKeys>), ClientError> {
        let request = Request::Devices {
            user: user.to_owned(),
        };
        match self.request(request).await? {
            Response::Devices { user, devices } => Ok((user, devices)),
            other => Err(unexpected(other)),
        }
    }

    /// Claims one key of each of `devices` of `user`.
    pub async fn claim_keys(
        &self,
        user: &str,
        devices: Vec<String>,
    ) -> Result<Vec<ClaimedKey>, ClientError> {
        let request = Request::ClaimKeys {
            user: user.to_owned(),
            devices,
        };
        match self.request(request).await? {
            Response::ClaimedKeys(keys) => Ok(keys),
            other => Err(unexpected(other)),
        }
    }

    /// Removes one of this user's devices (its Curve25519 key) with its
    /// keys on the server.
    pub async fn remove_device(&self, device: &str) -> Result<(), ClientError> {
        let request = Request::RemoveDevice {
            device: device.to_owned(),
        };
        match self.request(request).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Posts an encrypted message into the direct with `peer` (✓ when the
    /// answer comes; resending the same `client_id` never stores it twice).
    pub async fn send_encrypted_raw(
        &self,
        peer: &str,
        client_id: ClientMsgId,
        sender_device: String,
        ciphertexts: Vec<DeviceCiphertext>,
    ) -> Result<Sent, ClientError> {
        let request = Request::SendEncrypted {
            peer: peer.to_owned(),
            client_id,
            sender_device,
            ciphertexts,
        };
        match self.request(request).await? {
            Response::Sent(sent) => Ok(sent),
            other => Err(unexpected(other)),
        }
    }
}
